"""Reading official SpikeCLIP checkpoint files runs no code from them (issue 14, first step)."""

import argparse
import os
import pickle
import zipfile
from collections import OrderedDict

import pytest
import torch
from safetensors.torch import save_file

from spikeclip_training.official_io import OfficialFileError, load_state_dict


def _state():
    return OrderedDict([("patch_embed.block0_conv.weight", torch.randn(4, 3, 3, 3)),
                        ("patch_embed.block0_bn.num_batches_tracked", torch.tensor(7)),
                        ("weights_tensor", torch.ones(1, 4, 1))])


def test_timm_saver_layout_with_ddp_prefix_and_args(tmp_path):
    state = _state()
    ckpt = {"epoch": 3, "arch": "vision", "state_dict": OrderedDict(("module." + k, v) for k, v in state.items()),
            "optimizer": {"state": {}, "param_groups": [{"lr": 0.001}]},
            "args": argparse.Namespace(dim=384, depths=4, T=4, model="Vision_Encoder")}
    path = tmp_path / "model_best.pth.tar"
    torch.save(ckpt, path)
    tensors, args = load_state_dict(path)
    assert sorted(tensors) == ["patch_embed.block0_conv.weight", "weights_tensor"]   # prefix off, counter dropped
    assert torch.equal(tensors["weights_tensor"], state["weights_tensor"])
    assert args == {"dim": 384, "depths": 4, "T": 4, "model": "Vision_Encoder"}


def test_bare_state_dict_and_safetensors(tmp_path):
    state = _state()
    torch.save(state, tmp_path / "bare.pth")
    assert sorted(load_state_dict(tmp_path / "bare.pth")[0]) == ["patch_embed.block0_conv.weight", "weights_tensor"]
    save_file({k: v for k, v in state.items() if v.is_floating_point()}, str(tmp_path / "model.safetensors"))
    tensors, args = load_state_dict(tmp_path / "model.safetensors")
    assert args is None and sorted(tensors) == ["patch_embed.block0_conv.weight", "weights_tensor"]


class _Hostile:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Exec:
    def __reduce__(self):
        return (exec, ("open(%r, 'w').write('ran')" % MARKER,))


MARKER = "/tmp/spikeclip-hostile-pickle-ran"


@pytest.mark.parametrize("kind", ["torch-zip-os-system", "torch-zip-exec", "legacy-pickle-os-system"])
def test_hostile_pickles_are_refused_and_run_nothing(tmp_path, kind):
    if os.path.exists(MARKER):
        os.remove(MARKER)
    path = tmp_path / f"{kind}.pth.tar"
    if kind == "torch-zip-os-system":
        torch.save({"state_dict": _state(), "args": _Hostile(f"touch {MARKER}")}, path)
    elif kind == "torch-zip-exec":
        torch.save({"state_dict": _state(), "epoch": _Exec()}, path)
    else:
        with open(path, "wb") as f:
            pickle.dump({"state_dict": {}, "x": _Hostile(f"touch {MARKER}")}, f)
    with pytest.raises(OfficialFileError) as e:
        load_state_dict(path)
    message = str(e.value)
    assert "\n" not in message and str(path) in message
    assert "refused" in message or "not a readable" in message or "not a PyTorch checkpoint" in message
    assert not os.path.exists(MARKER), "the file's code ran"


def test_malformed_files_end_in_one_line_errors(tmp_path):
    good = tmp_path / "good.pth.tar"
    torch.save({"state_dict": _state()}, good)
    data = good.read_bytes()
    cases = {
        "truncated.pth.tar": data[: len(data) // 2],
        "empty.pth": b"",
        "text.pth": b"hello, not a checkpoint\n",
        "huge-header.safetensors": (1 << 60).to_bytes(8, "little") + b"{}",
        "bad-json.safetensors": (5).to_bytes(8, "little") + b"{nope",
    }
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
    # A zip with a damaged member, and dicts of the wrong content.
    with zipfile.ZipFile(good) as z:
        names = z.namelist()
    torch.save({"state_dict": {"a": 1.5}}, tmp_path / "not-tensor.pth")
    torch.save({"state_dict": {"a": torch.zeros(2, dtype=torch.bool)}}, tmp_path / "bool.pth")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    torch.save({"state_dict": {}}, tmp_path / "no-tensors.pth")
    for name in list(cases) + ["not-tensor.pth", "bool.pth", "list.pth", "no-tensors.pth", "missing.pth"]:
        with pytest.raises(OfficialFileError) as e:
            load_state_dict(tmp_path / name)
        assert "\n" not in str(e.value) and name in str(e.value), name
    assert names  # the good file is a torch zip archive
