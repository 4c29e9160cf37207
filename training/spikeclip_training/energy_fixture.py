"""Energy fixture: per-layer operation counts from the Python accounting, for the Swift engine to match (issue 12).

``python -m spikeclip_training.energy_fixture Tests/Fixtures/tiny-default Tests/Fixtures/tiny-official`` writes
``energy.json`` beside each golden fixture: for every image of the golden batch, every prompt and the ANN twin, the
counts of each layer summed over time steps (``macs``, ``acs``, ``neuron_updates``, ``adds``, ``multiplies``), computed
by ``energy.vision_layers`` / ``text_layers`` / ``ann_vision_layers`` from the golden spikes. The Swift test
(``EnergyFixtureTests``) recomputes them with ``EnergyAccounting`` from its own forward pass and demands equality;
``tests/test_energy_fixture.py`` recomputes them in Python. A change of either side's counting fails one of the two.
Output is deterministic (sorted keys, integers).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

from safetensors.torch import load_file

from . import energy
from .export import read_checkpoint_config
from .st_io import write_atomic


def _rows(layers: energy.Layers, item: int) -> list:
    """``[[name, {kind: count}], ...]`` in forward order for one item; counts are integers."""
    out = []
    for name, counts in layers.items():
        values = {}
        for kind in energy.KINDS:
            x = float(counts[kind][item])
            assert x == int(x), f"{name}.{kind} = {x} is not an integer count"
            values[kind] = int(x)
        out.append([name, values])
    return out


def fixture_counts(directory: Path) -> dict:
    """The energy fixture of the golden fixture in ``directory`` (``model.safetensors`` + ``golden.safetensors``)."""
    cfg = read_checkpoint_config(directory / "model.safetensors")
    golden = load_file(str(directory / "golden.safetensors"))
    spikes = {k[len("spikes."):]: v for k, v in golden.items() if k.startswith("spikes.")}
    vision = energy.vision_layers(spikes, cfg)
    text = energy.text_layers(spikes, cfg)
    return {
        "fixture": directory.name,
        "note": "per-layer operation counts summed over time steps; written by python -m spikeclip_training.energy_fixture",
        "vision": [_rows(vision, b) for b in range(vision.B)],
        "text": [_rows(text, p) for p in range(text.B)],
        "ann_vision": _rows(energy.ann_vision_layers(cfg), 0) if cfg.ann_vision is not None else [],
    }


def serialize(counts: dict) -> bytes:
    return (json.dumps(counts, indent=1, sort_keys=True) + "\n").encode()


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("fixtures", nargs="+", type=Path, help="golden fixture directories")
    args = ap.parse_args(argv)
    for d in args.fixtures:
        data = serialize(fixture_counts(d))
        write_atomic(d / "energy.json", data, overwrite=True)
        print(f"wrote {d / 'energy.json'} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
