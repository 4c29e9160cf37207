"""Python energy accounting (spikeclip_training.energy) against a literal loop port of Energy.swift."""

from spikeclip_training import energy


def _reach(i, n):
    return min(i + 1, n - 1) - max(i - 1, 0) + 1


def _swift_vision_paper(spikes, cfg, b):
    """Energy.swift ``vision`` (paper convention: MACs and ACs only), written as its loops."""
    v, T = cfg.vision, cfg.T
    d, (h, w) = v.embed_dims, v.image_size
    macs = T * energy.conv3_dense_macs(v.in_channels, d // 8, h, w) + d * v.target_dim
    acs = 0
    for lif, cout in (("block1_lif", d // 4), ("block2_lif", d // 2), ("block3_lif", d), ("block4_lif", d)):
        s = spikes[f"vision.patch_embed.{lif}"][:, b]
        C, lh, lw = s.shape[1:]
        for t in range(T):
            for c in range(C):
                for y in range(lh):
                    for x in range(lw):
                        if s[t, c, y, x]:
                            acs += _reach(y, lh) * _reach(x, lw) * cout
    heads, hd, dh = v.num_heads, d // v.num_heads, int(d * v.mlp_ratios)
    for i in range(v.depths):
        a, m = f"vision.block.{i}.attn.", f"vision.block.{i}.mlp."
        g = lambda n: spikes[n][:, b].reshape(T, spikes[n].shape[2], -1)
        proj, q, k, vv, att = g(a + "proj_lif"), g(a + "q_lif"), g(a + "k_lif"), g(a + "v_lif"), g(a + "attn_lif")
        n = q.shape[-1]
        for t in range(T):
            acs += 3 * int(proj[t].sum()) * d + int(att[t].sum()) * d
            for head in range(heads):
                rows = range(head * hd, (head + 1) * hd)
                for e in rows:
                    acs += int(q[t, e].sum()) * int(k[t, e].sum())
                for ii in range(n):
                    for jj in range(n):
                        vc = sum(int(vv[t, e, jj]) for e in rows)
                        if vc and any(q[t, e, ii] and k[t, e, jj] for e in rows):
                            acs += vc
            acs += int(g(m + "mlp1_lif")[t].sum()) * dh + int(g(m + "mlp2_lif")[t].sum()) * d
    return 4.6 * macs + 0.9 * acs


def test_vectorised_vision_energy_matches_loop_port():
    """On the committed tiny-default golden spikes (B = 2, every layer firing at 3-60 %)."""
    from pathlib import Path

    import pytest
    from safetensors.torch import load_file

    from spikeclip_training.export import read_checkpoint_config

    fx = Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "tiny-default"
    assert (fx / "golden.safetensors").exists(), "committed golden fixture missing"
    cfg = read_checkpoint_config(fx / "model.safetensors")
    g = load_file(str(fx / "golden.safetensors"))
    spikes = {k[len("spikes."):]: v for k, v in g.items() if k.startswith("spikes.vision.")}
    tot = energy.vision_ops(spikes, cfg)
    for b in range(spikes["vision.patch_embed.block1_lif"].shape[1]):
        assert float(tot.paper_pj()[b]) == pytest.approx(_swift_vision_paper(spikes, cfg, b), rel=1e-12)
