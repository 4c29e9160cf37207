"""Demo images for the explorer: Fashion-MNIST test records as 28x28 grayscale PNG, and pictograms of the
open-vocabulary set (issue 16) as their canonical 32x32 RGB views, with their labels.

``python -m spikeclip_training.demo_images --out assets/images`` writes, for each of the 10 classes, the first
two records of that class in the Fashion-MNIST test set (``/usr/share/datasets/fashion-mnist``, Debian package
``dataset-fashion-mnist``, MIT licence) as ``<class>_<record>.png`` (8-bit gray, written with zlib so the
bytes do not depend on Pillow's version) and ``labels.json``: file -> class index, class name, record index.
The pictograms (:data:`OPEN_DEMO`) are emoji (Noto Color Emoji, ``fonts-noto-color-emoji``, SIL OFL 1.1) and clip
art (``openclipart-png``, public domain) rebuilt with ``opendata.to_rgba32`` / ``on_black``; ``labels.json`` (a list, in display order) says for
each whether its concept is held out of all training (zero-shot) or a held-out picture of a seen concept, and its
licence. Output is byte-identical between runs.
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
# (picture, class name, file stem): held-out concepts (never trained), then held-out pictures of seen concepts,
# then training pictures of seen concepts (what the model learned).
OPEN_DEMO = [
    ("U+1F981", "lion", "lion"), ("U+1F98B", "butterfly", "butterfly"), ("U+1F998", "kangaroo", "kangaroo"),
    ("U+1F9A9", "flamingo", "flamingo"), ("U+1F916", "robot", "robot"), ("U+1F345", "tomato", "tomato"),
    ("U+1F691", "ambulance", "ambulance"), ("U+1F984", "unicorn", "unicorn"),
    ("recreation/music/piano_geraint_luff_01.png", "piano", "piano"),
    ("food/desserts/birthday_cake.png", "birthday cake", "birthday-cake"),
    ("food/meats_and_eggs/hamburger_ganson.png", "hamburger", "hamburger"),
    ("tools/weapons/sword_01.png", "sword", "sword"),
    ("recreation/music/guitar_jarno_vasamaa1.png", "guitar", "guitar"),
    ("transportation/bus2_jarno_vasamaa_01.png", "bus", "bus"),
    ("food/fruit/bananas_nicu_buculei_01.png", "banana", "banana"),
    ("recreation/toys/stylized_teddy_bear_gera_01.png", "teddy bear", "teddy-bear"),
    ("signs_and_symbols/weather/sun01.png", "sun", "sun"),
    ("signs_and_symbols/clocks/clock03.png", "clock", "clock"),
    ("U+1F415", "dog", "dog"), ("U+1F408", "cat", "cat"), ("U+1F3E0", "house", "house"), ("U+1F697", "car", "car"),
]


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
    table.update(open_demo(files))
    source = {"dataset": "Fashion-MNIST test set (t10k), MIT licence; pictograms: Noto Color Emoji (SIL OFL 1.1) "
                         "and Openclipart (public domain), see each entry",
              "file": str(FASHION_TEST_IMAGES), "generator": "spikeclip_training.demo_images"}
    # A list, not a map: the explorer keeps this order (Fashion-MNIST records by file name, then the pictograms in
    # OPEN_DEMO order, held-out concepts first) and shows a checkpoint's own classes first.
    images = [{"file": f, **e} for f, e in sorted(table.items()) if "class_index" in e]
    images += [{"file": f, **e} for f, e in table.items() if "class_index" not in e]
    files["labels.json"] = (json.dumps({"source": source, "images": images}, indent=2, sort_keys=True) + "\n").encode()
    files["README.md"] = README.encode()       # attributions and licences, regenerated with the images
    return files


def open_demo(files: dict) -> dict:
    """Adds the :data:`OPEN_DEMO` views to ``files``; returns their ``labels.json`` entries."""
    from . import opendata
    from .preprocess import decode_bytes, decode_file
    sets = json.loads((Path(__file__).resolve().parents[2] / "assets" / "open-vocabulary" / "sets.json")
                      .read_text())["sets"]
    split = {p["picture"]: k for k in ("heldout", "seen-test") for p in sets[k]["pictures"]}
    says = {"heldout": "held-out concept: neither it nor its name reached any training stage",
            "seen-test": "seen concept, held-out picture (never trained on)", None: "training picture"}
    font = None
    table = {}
    for picture, name, stem in OPEN_DEMO:
        if picture.startswith("U+"):
            if font is None:
                from fontTools.ttLib import TTFont
                f = TTFont(str(opendata.EMOJI_FONT))
                font = (f.getBestCmap(), f["CBDT"].strikeData[0])
            cmap, strike = font
            img = decode_bytes(bytes(strike[cmap[int(picture[2:], 16)]].imageData), picture)
            source, licence = "emoji", "Noto Color Emoji (fonts-noto-color-emoji), SIL Open Font License 1.1"
        else:
            img = decode_file(opendata.CLIPART_DIR / picture)
            source, licence = "clipart", "Openclipart (openclipart-png), public domain"
        rgb = opendata.on_black(opendata.to_rgba32(img))
        file = f"open-{stem}.png"
        files[file] = png_bytes(rgb.astype(np.int64), 2, 8)
        table[file] = {"class_name": name, "source": source, "picture": picture, "licence": licence,
                       "split": says[split.get(picture)]}
    return table


README = """# Demo images

`labels.json` lists every image in the explorer's display order with its class name, source and licence; the
explorer shows first the images whose class is one of the checkpoint's prompts. Regenerate byte for byte with
`PYTHONPATH=training python -m spikeclip_training.demo_images --out assets/images`.

- `<class>_<record>.png` (20): Fashion-MNIST test records, 28x28 grey. Fashion-MNIST by Zalando Research, MIT
  licence (Debian `dataset-fashion-mnist`).
- `open-*.png` (22): 32x32 RGB views (area-averaged, composited on black; `training/spikeclip_training/opendata.py`)
  of
  - emoji from Noto Color Emoji (Google, SIL Open Font License 1.1; Debian `fonts-noto-color-emoji`): lion,
    butterfly, kangaroo, flamingo, robot, tomato, ambulance, unicorn, dog, cat, house, car;
  - clip art from Openclipart (public domain / CC0 1.0; Debian `openclipart-png`): piano, birthday cake, hamburger,
    sword, guitar, bus, banana, teddy bear, sun, clock.

  Each entry's `split` says whether the concept is held out of all training of the open-vocabulary default (lion,
  butterfly, kangaroo, flamingo, robot, tomato, ambulance, unicorn, piano, birthday cake, hamburger, sword: zero-shot),
  a held-out picture of a seen concept, or a training picture.
"""


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
