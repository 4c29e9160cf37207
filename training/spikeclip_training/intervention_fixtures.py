"""Golden interventions (issue 17): ``python -m spikeclip_training.intervention_fixtures`` writes
``Tests/Fixtures/tiny-default/interventions.safetensors``: for each case of ``CASES`` (every target and action, time
steps, noise, and a combination) the reference outputs on the golden inputs of ``tiny-default`` in float64 from the
stored weights: ``<case>.vision`` ``[B, td]``, ``<case>.text`` ``[P, td]`` (F32), and every LIF layer's spikes of
item 0 (image 0, prompt 0) bit-packed: ``<case>.spikes.<layer>`` U8 = ``numpy.packbits`` of the flattened ``[T, ...]``
(first element in the high bit). ``__metadata__.cases`` is the JSON list of ``{"name", "set"}`` (the intervention
set as the engine reads it), ``min_margin`` per case the smallest ``|h - v_threshold_effective|`` outside the
``attn_lif`` layers (float32 cannot flip a spike above 1e-6).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from . import st_io
from .export import load_checkpoint
from .interventions import Intervention as I, InterventionSet, run
from .model import lif_layers

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "Tests" / "Fixtures" / "tiny-default"

CASES = [
    ("silence-layer", InterventionSet([I("vision.block.0.attn.q_lif", "silence")])),
    ("force-channel", InterventionSet([I("vision.patch_embed.block2_lif", "force", "channel", 4)])),
    ("silence-head", InterventionSet([I("vision.block.0.attn.k_lif", "silence", "head", 1)])),
    ("silence-token", InterventionSet([I("vision.block.0.mlp.mlp1_lif", "silence", "token", 5)])),
    ("force-neuron-text", InterventionSet([I("text.mlp_lif2", "force", "neuron", 17)])),
    ("silence-neuron-text", InterventionSet([I("text.mlp_lif1", "silence", "neuron", 13)])),   # fires at every step for prompt 0
    ("threshold-all", InterventionSet([I("*", "threshold", scale=0.85)])),
    ("threshold-attn", InterventionSet([I("vision.block.0.attn.attn_lif", "threshold", scale=1.5)])),
    ("steps-2", InterventionSet([], steps=2)),
    ("noise", InterventionSet([], noise_std=0.3, noise_seed=7)),
    ("combined", InterventionSet([I("vision.block.0.attn.q_lif", "silence", "head", 0),
                                  I("text.mlp_lif1", "threshold", scale=1.2),
                                  I("vision.patch_embed.block1_lif", "force", "token", 40)], steps=3)),
]


def compute(case_set: InterventionSet, model, golden) -> tuple[dict, dict, float]:
    layers = lif_layers(model)
    for lif in layers.values():
        lif.record_spikes, lif.record_full_membrane = True, True
    out = run(model, golden["input.pixel_values"].double(), golden["input.token_ids"].long(), case_set)
    spikes, margin = {}, float("inf")
    scale = {name: 1.0 for name in layers}
    for iv in case_set.items:
        if iv.action == "threshold":
            for name in (layers if iv.layer == "*" else [iv.layer]):
                scale[name] *= iv.scale
    for name, lif in layers.items():
        spikes[name] = lif.recorded_spikes[:, 0].contiguous()
        if not name.endswith("attn_lif"):
            margin = min(margin, float((lif.recorded_membrane_full - lif.v_threshold * scale[name]).abs().min()))
        lif.record_spikes = lif.record_full_membrane = False
        lif.clear_records()
    return out, spikes, margin


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=FIXTURE / "interventions.safetensors")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    model, _ = load_checkpoint(FIXTURE / "model.safetensors", dtype=torch.float64)
    golden = load_file(str(FIXTURE / "golden.safetensors"))
    tensors, cases = {}, []
    for name, s in CASES:
        out, spikes, margin = compute(s, model, golden)
        tensors[f"{name}.vision"] = out["vision"].float()
        tensors[f"{name}.text"] = out["text"].float()
        for layer, sp in spikes.items():
            tensors[f"{name}.spikes.{layer}"] = torch.from_numpy(np.packbits(sp.numpy().astype(np.uint8).reshape(-1)))
        cases.append({"name": name, "set": s.to_dict(), "min_margin": margin})
        print(f"{name}: min margin {margin:.3e}", file=sys.stderr)
    meta = {"fixture_format": "spikeclip-interventions", "fixture_version": "1", "cases": json.dumps(cases),
            "generator": "spikeclip_training.intervention_fixtures"}
    st_io.save(a.out, tensors, meta, overwrite=True)
    print(f"wrote {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
