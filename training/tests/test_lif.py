import pytest
import torch
from spikingjelly.activation_based import neuron

from spikeclip_training.lif import LIF


def test_hand_computed_sequence():
    # tau = 2, v_th = 1, hard reset to 0:  h = v + (x - v)/2
    x = torch.tensor([[1.5], [1.5], [0.0], [2.0], [4.0]], dtype=torch.float64)
    lif = LIF()
    lif.record_full_membrane = True
    s = lif(x)
    # t0: h = 0.75 no;  t1: h = 0.75 + 0.375 = 1.125 fire -> v 0;  t2: h = 0 no;
    # t3: h = 1.0 fire (exactly at threshold: >=);  t4: h = 2.0 fire
    assert s.flatten().tolist() == [0.0, 1.0, 0.0, 1.0, 1.0]
    assert lif.recorded_membrane_full.flatten().tolist() == [0.75, 1.125, 0.0, 1.0, 2.0]


def test_exact_threshold_fires_and_just_below_does_not():
    lif = LIF()
    x = torch.tensor([[2.0, 2.0 - 1e-12]], dtype=torch.float64)   # h[0] = x/2
    assert lif(x).tolist() == [[1.0, 0.0]]


def test_attn_threshold_half():
    lif = LIF(v_threshold=0.5)
    lif.record_full_membrane = True
    # x = 1.0 -> h = 0.5 fires (exact tie); x = 0.875 -> h = 0.4375, then 0.65625 fires
    x = torch.tensor([[1.0, 0.875], [0.0, 0.875]], dtype=torch.float32)
    s = lif(x)
    assert s.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert lif.recorded_membrane_full.tolist() == [[0.5, 0.4375], [0.0, 0.65625]]
    assert LIF()(x).sum() == 0   # the same input never reaches threshold 1


def test_membrane_index_recording_and_state_reset():
    lif = LIF()
    lif.record_spikes = True
    lif.membrane_index = torch.tensor([5, 0])
    x = torch.arange(24, dtype=torch.float64).reshape(3, 2, 4) / 8.0   # [T, B, n]
    s1 = lif(x)
    assert lif.recorded_spikes.dtype == torch.uint8 and lif.recorded_spikes.shape == (3, 2, 4)
    assert torch.equal(lif.recorded_spikes, s1.to(torch.uint8))
    assert lif.recorded_membrane.shape == (3, 2)
    # neuron 5 = batch 1, unit 1: x = 5/8, 13/8, 21/8
    assert lif.recorded_membrane[:, 0].tolist() == [5 / 16, 5 / 32 + 13 / 16, (5 / 32 + 13 / 16) / 2 + 21 / 16]
    assert torch.equal(lif(x), s1)   # membrane restarts at v_reset on every call


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_spikingjelly(dtype):
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(8, 3, 64, generator=g) * 1.5 + 0.7).to(dtype)
    ref = neuron.LIFNode(tau=2.0, decay_input=True, v_reset=0.0, step_mode="m", store_v_seq=True,
                         detach_reset=True)
    xr = x.clone().requires_grad_()
    s_ref = ref(xr)
    lif = LIF()
    lif.record_full_membrane = True
    xm = x.clone().requires_grad_()
    s = lif(xm)
    assert s.dtype == dtype
    assert 0.05 < float(s.detach().mean()) < 0.95
    assert torch.equal(s, s_ref)
    # spikingjelly stores v after reset: v = h * (1 - s) with v_reset = 0
    assert torch.equal(lif.recorded_membrane_full * (1 - s.detach()), ref.v_seq)
    w = torch.randn(s.shape, generator=g).to(dtype)
    (s_ref * w).sum().backward()
    (s * w).sum().backward()
    tol = 1e-6 if dtype == torch.float32 else 1e-13
    assert torch.allclose(xm.grad, xr.grad, atol=tol, rtol=0)
    assert float(xm.grad.abs().max()) > 0.1


def test_surrogate_gradient_value():
    x = torch.tensor([[2.0]], dtype=torch.float64, requires_grad=True)   # h = 1.0, u = 0
    LIF()(x).sum().backward()
    # ds/dh = alpha * sig(0) * (1 - sig(0)) = 4 * 0.25 = 1;  dh/dx = 1/tau = 0.5
    assert x.grad.item() == pytest.approx(0.5)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        LIF(tau=1.0)
    with pytest.raises(ValueError):
        LIF()(torch.zeros(4))
