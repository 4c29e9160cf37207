"""PyTorch reference timings for ``spikeclip bench`` (the same measurements as the Swift engine's lines).

    python -m spikeclip_training.bench CHECKPOINT [--iterations N] [--threads N] [--clip DIR]

Times one image through the spiking image encoder and the ANN twin, and one prompt through the spiking text encoder,
with the reference model of this package (CPU, float32, ``torch.no_grad``), and prints ``label p50 X ms p95 Y ms``
lines; with ``--clip`` also a Hugging Face CLIPModel folder's image tower and text tower (transformers, float32,
batch 1, L = 77). Inputs are zeros of the checkpoint's shapes (the forward cost does not depend on the values enough to matter
for a comparison; spike counts do, so read these as the reference's dense cost).
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import torch

from .export import load_checkpoint


def _percentiles(ms: list[float]) -> tuple[float, float]:
    s = sorted(ms)
    return s[len(s) // 2], s[min(len(s) - 1, max(0, math.ceil(len(s) * 0.95) - 1))]


def measure(label: str, fn, iterations: int) -> str:
    fn()  # warm-up
    ms = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1e3)
    p50, p95 = _percentiles(ms)
    return f"{label:<48} p50 {p50:8.3f} ms   p95 {p95:8.3f} ms"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--clip", help="a Hugging Face CLIPModel folder to time as well")
    args = ap.parse_args(argv)
    if args.iterations < 1:
        print("error: --iterations must be >= 1", file=sys.stderr)
        return 2
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    model, cfg = load_checkpoint(args.checkpoint)
    v, t = cfg.vision, cfg.text
    image = torch.zeros(1, v.in_channels, v.image_size[0], v.image_size[1])
    ids = torch.full((1, t.context_length), cfg.tokenizer.pad_id, dtype=torch.long)
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
