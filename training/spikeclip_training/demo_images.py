"""Demo images for the explorer: Fashion-MNIST test records as 28x28 grayscale PNG, with their labels.

``python -m spikeclip_training.demo_images --out assets/images`` writes, for each of the 10 classes, the first
two records of that class in the Fashion-MNIST test set (``/usr/share/datasets/fashion-mnist``, Debian package
``dataset-fashion-mnist``, MIT licence) as ``<class>_<record>.png`` (8-bit gray, written with zlib so the
bytes do not depend on Pillow's version) and ``labels.json``: file -> class index, class name, record index.
Output is byte-identical between runs.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import numpy as np

from . import st_io
from .image_fixtures import FASHION_TEST_IMAGES, FASHION_TEST_LABELS, png_bytes

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
PER_CLASS = 2


def _slug(name: str) -> str:
    return name.lower().replace("/", "-").replace(" ", "-")


def build() -> dict[str, bytes]:
    images = gzip.decompress(FASHION_TEST_IMAGES.read_bytes())
    labels = np.frombuffer(gzip.decompress(FASHION_TEST_LABELS.read_bytes())[8:], np.uint8)
    records = np.frombuffer(images[16:], np.uint8).reshape(-1, 28, 28)
    files, table = {}, {}
    for c, name in enumerate(CLASSES):
        for record in np.flatnonzero(labels == c)[:PER_CLASS]:
            file = f"{_slug(name)}_{int(record):04d}.png"
            files[file] = png_bytes(records[record][:, :, None].astype(np.int64), 0, 8)
            table[file] = {"class_index": c, "class_name": name, "record_index": int(record)}
    source = {"dataset": "Fashion-MNIST test set (t10k), MIT licence",
              "file": str(FASHION_TEST_IMAGES), "generator": "spikeclip_training.demo_images"}
    files["labels.json"] = (json.dumps({"source": source, "images": table}, indent=2, sort_keys=True) + "\n").encode()
    return files


def write(out: Path) -> dict[str, int]:
    sizes = {}
    for name, data in build().items():
        st_io.write_atomic(Path(out) / name, data, overwrite=True)
        sizes[name] = len(data)
    return sizes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)
    sizes = write(args.out)
    print(f"wrote {len(sizes)} files, {sum(sizes.values())} bytes, to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
