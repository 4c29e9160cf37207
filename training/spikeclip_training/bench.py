"""PyTorch reference timings for ``spikeclip bench`` (the same measurements as the Swift engine's lines).

    python -m spikeclip_training.bench CHECKPOINT [--iterations N] [--threads N] [--clip DIR]
        [--inputs FILE.json --batch B --json]

Times one image through the spiking image encoder and the ANN twin, and one prompt through the spiking text encoder,
with the reference model of this package (CPU, float32, ``torch.no_grad``), and prints ``label p50 X ms p95 Y ms``
lines; with ``--clip`` also a Hugging Face CLIPModel folder's image tower and text tower (transformers, float32,
batch 1, L = 77). ``--inputs`` (what ``spikeclip bench --checkpoint`` writes: ``pixels`` of one image after
preprocessing, ``ids`` of one prompt) times those instead of zeros, ``--batch B`` adds B copies of the image through the
spiking encoder, and ``--json`` prints ``{"torch": version, "threads": n, "p50": {...}, "p95": {...}}`` (ms; keys
``spiking_image``, ``ann_image``, ``spiking_text``, ``spiking_image_batch``). Otherwise inputs are zeros of the checkpoint's shapes (the forward cost does not depend on the values enough to matter
for a comparison; spike counts do, so read these as the reference's dense cost).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import torch

from .export import load_checkpoint


def _percentiles(ms: list[float]) -> tuple[float, float]:
    s = sorted(ms)
    return s[len(s) // 2], s[min(len(s) - 1, max(0, math.ceil(len(s) * 0.95) - 1))]


def timings(fn, iterations: int) -> tuple[float, float]:
    """p50 and p95 of ``fn`` in ms, after one warm-up call."""
    fn()
    ms = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1e3)
    return _percentiles(ms)


def measure(label: str, fn, iterations: int) -> str:
    p50, p95 = timings(fn, iterations)
    return f"{label:<48} p50 {p50:8.3f} ms   p95 {p95:8.3f} ms"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--clip", help="a Hugging Face CLIPModel folder to time as well")
    ap.add_argument("--inputs", help="JSON with the image (pixels) and prompt (ids) to time")
    ap.add_argument("--batch", type=int, default=0, help="also time a batch of this many copies of the image")
    ap.add_argument("--json", action="store_true", help="print the timings as JSON")
    args = ap.parse_args(argv)
    if args.iterations < 1 or args.batch < 0:
        print("error: --iterations must be >= 1 and --batch >= 0", file=sys.stderr)
        return 2
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    model, cfg = load_checkpoint(args.checkpoint)
    v, t = cfg.vision, cfg.text
    image = torch.zeros(1, v.in_channels, v.image_size[0], v.image_size[1])
    ids = torch.full((1, t.context_length), cfg.tokenizer.pad_id, dtype=torch.long)
    if args.inputs:
        with open(args.inputs, encoding="utf-8") as f:
            given = json.load(f)
        image = torch.tensor(given["pixels"], dtype=torch.float32).reshape(image.shape)
        ids = torch.tensor([given["ids"]], dtype=torch.long).reshape(ids.shape)
    if args.json:
        work = {"spiking_image": lambda: model.vision(image), "spiking_text": lambda: model.text(ids)}
        if model.ann_vision is not None:
            work["ann_image"] = lambda: model.ann_vision(image)
        if args.batch:
            many = image.expand(args.batch, -1, -1, -1).contiguous()
            work["spiking_image_batch"] = lambda: model.vision(many)
        with torch.no_grad():
            got = {k: timings(fn, args.iterations) for k, fn in work.items()}
        print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                          "p50": {k: v[0] for k, v in got.items()}, "p95": {k: v[1] for k, v in got.items()}}))
        return 0
    with torch.no_grad():
        print(f"PyTorch {torch.__version__} reference, {torch.get_num_threads()} threads, batch 1")
        print(measure("torch: spiking image encoder", lambda: model.vision(image), args.iterations))
        print(measure("torch: spiking text encoder, 1 prompt", lambda: model.text(ids), args.iterations))
        print(measure("torch: ANN twin image encoder", lambda: model.ann_vision(image), args.iterations))
        if args.clip:
            from transformers import CLIPModel
            clip = CLIPModel.from_pretrained(args.clip, dtype=torch.float32).eval()
            vc, tc = clip.config.vision_config, clip.config.text_config
            px = torch.zeros(1, 3, vc.image_size, vc.image_size)
            tokens = torch.zeros(1, tc.max_position_embeddings, dtype=torch.long)
            tokens[0, -1] = tc.vocab_size - 1
            print(measure("transformers: CLIP image tower", lambda: clip.get_image_features(pixel_values=px), args.iterations))
            print(measure("transformers: CLIP text tower (L 77)", lambda: clip.get_text_features(input_ids=tokens), args.iterations))
    return 0


if __name__ == "__main__":
    sys.exit(main())
