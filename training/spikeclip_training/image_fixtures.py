"""Image decoding and preprocessing fixtures for the Swift tests (docs/PREPROCESSING.md).

``python -m spikeclip_training.image_fixtures --out Tests/Fixtures/images`` writes small images in many variants
(PNG of every colour type and depth, palette with and without tRNS, interlaced; JPEG baseline, progressive,
grayscale; PGM/PPM binary and ASCII incl. 16-bit; a Fashion-MNIST IDX excerpt, gzip and plain), malformed files
under ``bad/``, and ``expected.safetensors`` holding, per image, the reference decoded samples
``decoded/<file>`` ``[H, W, C]`` and the preprocessed tensors ``fmnist/<file>`` ``[1, 28, 28]`` and
``rgb32/<file>`` ``[3, 32, 32]`` (F32). IDX records are named ``<file>#<index>``. Output is byte-identical
between runs: PNGs are written here with zlib (level 9) so Pillow's encoder version does not matter, and every
PNG is checked to decode (with :func:`preprocess.decode_file`) to exactly the samples it was written from.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import torch

from . import st_io
from .preprocess import ADAM7, decode_file, idx_image, preprocess

GENERATOR = "spikeclip_training.image_fixtures"
FASHION_TEST_IMAGES = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
FASHION_TEST_LABELS = Path("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")
IDX_RECORDS = 4

TARGETS = {
    "fmnist": {"image_size": [28, 28], "channels": 1, "mean": [0.2860], "std": [0.3530]},
    "rgb32": {"image_size": [32, 32], "channels": 3, "mean": [0.4914, 0.4822, 0.4465], "std": [0.2470, 0.2435, 0.2616]},
}


# ----------------------------------------------------------------------------- PNG writer

def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _pack_row(values: np.ndarray, depth: int) -> bytes:
    values = values.astype(np.int64).ravel()
    if depth == 16:
        return values.astype(">u2").tobytes()
    if depth == 8:
        return values.astype(np.uint8).tobytes()
    bits = ((values[:, None] >> np.arange(depth - 1, -1, -1)) & 1).astype(np.uint8).ravel()
    return np.packbits(bits).tobytes()


def _filter_row(line: bytes, prev: bytes, ftype: int, bpp: int) -> bytes:
    out = bytearray([ftype])
    for i, x in enumerate(line):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if ftype == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        else:
            pred = (0, a, b, (a + b) // 2)[ftype]
        out.append((x - pred) & 0xFF)
    return bytes(out)


def png_bytes(samples: np.ndarray, color_type: int, depth: int, *, palette=None, trns: bytes | None = None,
              interlace: bool = False, width: int | None = None, height: int | None = None) -> bytes:
    """Encode integer ``samples`` ``[H, W, C]`` (palette indices for colour type 3). Row ``r`` of each pass uses
    filter ``r % 5`` so every PNG filter is exercised. ``width``/``height`` override IHDR (malformed files)."""
    h, w, c = samples.shape
    bits = c * depth
    bpp = max(1, bits // 8)
    raw = bytearray()
    for x0, y0, dx, dy in (ADAM7 if interlace else [(0, 0, 1, 1)]):
        sub = samples[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        prev = bytes((sub.shape[1] * bits + 7) // 8)
        for r in range(sub.shape[0]):
            line = _pack_row(sub[r], depth)
            raw += _filter_row(line, prev, r % 5, bpp)
            prev = line
    ihdr = struct.pack(">IIBBBBB", width if width is not None else w, height if height is not None else h,
                       depth, color_type, 0, 0, 1 if interlace else 0)
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    if palette is not None:
        out += _chunk(b"PLTE", np.asarray(palette, np.uint8).tobytes())
    if trns is not None:
        out += _chunk(b"tRNS", trns)
    out += _chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + _chunk(b"IEND", b"")
    return out


# ----------------------------------------------------------------------------- source pictures

def _picture(h: int, w: int, c: int, maxval: int, seed: int) -> np.ndarray:
    """Smooth gradients plus noise, integer samples in 0..maxval, ``[H, W, C]`` (structured, so resize matters)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    planes = []
    for k in range(c):
        base = 0.5 + 0.35 * np.sin(0.9 * x / max(w - 1, 1) * np.pi * (k + 1) + 0.6 * y) * np.cos(0.4 * y + k)
        noise = rng.uniform(-0.15, 0.15, size=(h, w))
        planes.append(np.clip(base + noise, 0, 1))
    v = np.rint(np.stack(planes, axis=2) * maxval).astype(np.int64)
    v[0, 0] = 0          # the extremes are present
    v[-1, -1] = maxval
    return v


def _png_variants() -> dict[str, tuple[bytes, np.ndarray]]:
    """name -> (file bytes, expected decoded samples [H, W, C] float64)."""
    out = {}
    W, H = 13, 9

    def plain(name, c, depth, color_type, *, interlace=False, h=H, w=W, seed=0):
        maxval = (1 << depth) - 1
        s = _picture(h, w, c, maxval, seed)
        out[name] = (png_bytes(s, color_type, depth, interlace=interlace), s / maxval)
        return s

    plain("png_gray1.png", 1, 1, 0, seed=1)
    plain("png_gray2.png", 1, 2, 0, seed=2)
    plain("png_gray4.png", 1, 4, 0, seed=3)
    plain("png_gray8.png", 1, 8, 0, seed=4)
    plain("png_gray16.png", 1, 16, 0, seed=5)
    plain("png_graya8.png", 2, 8, 4, seed=6)
    plain("png_graya16.png", 2, 16, 4, seed=7)
    plain("png_rgb8.png", 3, 8, 2, seed=8)
    plain("png_rgb16.png", 3, 16, 2, seed=9)
    plain("png_rgba8.png", 4, 8, 6, seed=10)
    plain("png_rgba16.png", 4, 16, 6, seed=11)
    plain("png_rgb8_interlaced.png", 3, 8, 2, interlace=True, seed=12)
    plain("png_rgba16_interlaced.png", 4, 16, 6, interlace=True, seed=13)
    plain("png_gray4_interlaced_tall.png", 1, 4, 0, interlace=True, h=W, w=H, seed=14)
    plain("png_rgb8_tall.png", 3, 8, 2, h=17, w=10, seed=15)
    plain("png_rgb8_large.png", 3, 8, 2, h=38, w=45, seed=16)

    # tRNS on gray and RGB: one exact colour becomes transparent.
    s = _picture(H, W, 1, 255, 17)
    key = int(s[2, 3, 0])
    alpha = (s[:, :, 0] != key).astype(np.float64)[:, :, None]
    out["png_gray8_trns.png"] = (png_bytes(s, 0, 8, trns=struct.pack(">H", key)),
                                 np.concatenate([s / 255.0, alpha], axis=2))
    s = _picture(H, W, 1, 3, 18)
    key = 1
    alpha = (s[:, :, 0] != key).astype(np.float64)[:, :, None]
    out["png_gray2_trns.png"] = (png_bytes(s, 0, 2, trns=struct.pack(">H", key)),
                                 np.concatenate([s / 3.0, alpha], axis=2))
    s = _picture(H, W, 3, 255, 19)
    key3 = s[4, 5].copy()
    alpha = (~np.all(s == key3, axis=2)).astype(np.float64)[:, :, None]
    out["png_rgb8_trns.png"] = (png_bytes(s, 2, 8, trns=struct.pack(">HHH", *map(int, key3))),
                                np.concatenate([s / 255.0, alpha], axis=2))

    # Palettes, with and without tRNS (partial table: later entries opaque).
    rng = np.random.default_rng(20)
    for name, depth, with_trns, interlace in [("png_palette8.png", 8, False, False),
                                               ("png_palette4.png", 4, False, False),
                                               ("png_palette8_trns.png", 8, True, False),
                                               ("png_palette2_trns_interlaced.png", 2, True, True)]:
        n = min(1 << depth, 24)
        pal = rng.integers(0, 256, size=(n, 3))
        idx = rng.integers(0, n, size=(H, W, 1))
        rgb = pal[idx[:, :, 0]] / 255.0
        trns = None
        if with_trns:
            table = rng.integers(0, 256, size=max(1, n - 1))
            table[0] = 0
            trns = bytes(int(t) for t in table)
            a = np.full(n, 255)
            a[:len(table)] = table
            rgb = np.concatenate([rgb, a[idx[:, :, 0]][:, :, None] / 255.0], axis=2)
        out[name] = (png_bytes(idx, 3, depth, palette=pal, trns=trns, interlace=interlace), rgb)
    return out


def _jpeg_variants() -> dict[str, bytes]:
    from PIL import Image
    rgb = _picture(9, 13, 3, 255, 30).astype(np.uint8)
    gray = _picture(11, 15, 1, 255, 31).astype(np.uint8)[:, :, 0]
    out = {}
    for name, im, kw in [("jpeg_baseline.jpg", Image.fromarray(rgb, "RGB"), {"quality": 90}),
                         ("jpeg_progressive.jpg", Image.fromarray(rgb, "RGB"), {"quality": 85, "progressive": True}),
                         ("jpeg_gray.jpg", Image.fromarray(gray, "L"), {"quality": 90}),
                         ("jpeg_444.jpg", Image.fromarray(rgb, "RGB"), {"quality": 95, "subsampling": 0})]:
        buf = io.BytesIO()
        im.save(buf, "JPEG", **kw)
        out[name] = buf.getvalue()
    return out


def _pnm(kind: str, s: np.ndarray, maxval: int, comment: str | None = None) -> bytes:
    h, w, _ = s.shape
    head = f"{kind}\n" + (f"# {comment}\n" if comment else "") + f"{w} {h}\n{maxval}\n"
    if kind in ("P2", "P3"):
        rows = [" ".join(str(int(v)) for v in row.ravel()) for row in s]
        # A comment inside the raster and uneven whitespace, which ASCII readers must skip.
        return (head + "\n".join(rows[:2]) + "\n# raster comment\n" + "  \t".join(rows[2:]) + "\n").encode()
    body = s.astype(">u2" if maxval > 255 else np.uint8).tobytes()
    return head.encode() + body


def _pnm_variants() -> dict[str, tuple[bytes, np.ndarray]]:
    out = {}
    for name, kind, c, maxval, seed in [("pgm_p5_8.pgm", "P5", 1, 255, 40), ("pgm_p5_16.pgm", "P5", 1, 65535, 41),
                                        ("pgm_p2_ascii.pgm", "P2", 1, 15, 42), ("ppm_p6_8.ppm", "P6", 3, 255, 43),
                                        ("ppm_p6_16.ppm", "P6", 3, 65535, 44), ("ppm_p6_4095.ppm", "P6", 3, 4095, 45),
                                        ("ppm_p3_ascii.ppm", "P3", 3, 255, 46), ("ppm_p3_ascii_16.ppm", "P3", 3, 65535, 47)]:
        s = _picture(9, 13, c, maxval, seed)
        out[name] = (_pnm(kind, s, maxval, comment=f"{name} written by {GENERATOR}"), s / maxval)
    return out


def _idx_files() -> dict[str, bytes]:
    images = gzip.decompress(FASHION_TEST_IMAGES.read_bytes())
    labels = gzip.decompress(FASHION_TEST_LABELS.read_bytes())
    n, rows, cols = struct.unpack(">III", images[4:16])
    img = images[:4] + struct.pack(">III", IDX_RECORDS, rows, cols) + images[16:16 + IDX_RECORDS * rows * cols]
    lab = labels[:4] + struct.pack(">I", IDX_RECORDS) + labels[8:8 + IDX_RECORDS]
    return {"fmnist-test-4-images-idx3-ubyte.gz": gzip.compress(img, 9, mtime=0),
            "fmnist-test-4-images-idx3-ubyte": img,
            "fmnist-test-4-labels-idx1-ubyte.gz": gzip.compress(lab, 9, mtime=0)}


def _bad_files(png_rgb8: bytes, jpeg: bytes, idx_gz: bytes) -> dict[str, bytes]:
    """Malformed inputs, each named for the error it must raise (ImageTests.swift asserts them)."""
    sof = jpeg.index(b"\xff\xc0")
    huge_jpeg = bytearray(jpeg)
    huge_jpeg[sof + 5:sof + 9] = struct.pack(">HH", 20000, 20000)
    bad_precision = bytearray(jpeg)
    bad_precision[sof + 4] = 7                            # sample precision 7 bits
    corrupt_png = bytearray(png_rgb8)
    corrupt_png[29] ^= 0xFF                               # IHDR CRC byte
    one = np.zeros((1, 1, 3), np.int64)
    return {
        "empty.png": b"",
        "text.png": b"this is a text file, not a PNG\n",
        "truncated.png": png_rgb8[:len(png_rgb8) // 2],
        "truncated_signature.png": png_rgb8[:5],
        "truncated.jpg": jpeg[:len(jpeg) // 2],
        "corrupt_crc.png": bytes(corrupt_png),
        "zero_width.png": png_bytes(one, 2, 8, width=0),
        "huge.png": png_bytes(one, 2, 8, width=20000, height=20000),
        "huge.jpg": bytes(huge_jpeg),
        "bad_precision.jpg": bytes(bad_precision),
        "garbage.jpg": b"\xff\xd8\xff\xe0" + bytes(range(60)) + b"\xff\xd9",
        "zero_height.pgm": b"P5\n7 0\n255\n",
        "huge_side.ppm": b"P6\n17000 10\n255\n",
        "huge_area.pgm": b"P5\n10000 10000\n255\n",
        "truncated.ppm": b"P6\n13 9\n255\n" + bytes(100),
        "truncated_ascii.pgm": b"P2\n3 2\n255\n1 2 3 4\n",
        "above_maxval.pgm": b"P2\n2 1\n10\n3 11\n",
        "bad_magic.idx": b"\x01\x02\x08\x03" + struct.pack(">III", 1, 2, 2) + bytes(4),
        "truncated.idx": b"\x00\x00\x08\x03" + struct.pack(">III", 3, 28, 28) + bytes(100),
        "truncated-idx3-ubyte.gz": idx_gz[:len(idx_gz) // 2],
        "zero_rows.idx": b"\x00\x00\x08\x03" + struct.pack(">III", 1, 0, 28),
    }


# ----------------------------------------------------------------------------- writing

def build() -> dict[str, bytes]:
    """Every fixture file: relative path -> bytes."""
    files: dict[str, bytes] = {}
    decoded: dict[str, np.ndarray] = {}
    for name, (data, samples) in {**_png_variants(), **_pnm_variants()}.items():
        files[name] = data
        decoded[name] = samples
    for name, data in _jpeg_variants().items():
        files[name] = data
    idx = _idx_files()
    files.update(idx)
    files.update({f"bad/{k}": v for k, v in _bad_files(files["png_rgb8.png"], files["jpeg_baseline.jpg"],
                                                      idx["fmnist-test-4-images-idx3-ubyte.gz"]).items()})
    return files, decoded


def expected_tensors(out: Path, files: dict[str, bytes], decoded: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    tensors = {}
    for name in sorted(files):
        if name.startswith("bad/") or "idx" in name:
            continue
        got = decode_file(out / name)
        if name in decoded:   # the Python decoder must return exactly what the file was written from
            want = decoded[name]
            if got.shape != want.shape or np.max(np.abs(got - want)) > 1e-12:
                raise AssertionError(f"{name}: Python decode differs from the written samples")
        tensors[f"decoded/{name}"] = got
    for name in ("fmnist-test-4-images-idx3-ubyte.gz", "fmnist-test-4-images-idx3-ubyte"):
        for i in range(IDX_RECORDS):
            tensors[f"decoded/{name}#{i}"] = idx_image(out / name, i)
    result = {}
    for key, hwc in tensors.items():
        name = key[len("decoded/"):]
        result[key] = torch.from_numpy(hwc.astype(np.float32))
        for target, cfg in TARGETS.items():
            result[f"{target}/{name}"] = torch.from_numpy(preprocess(hwc, **cfg))
    return result


def write(out: Path) -> dict[str, int]:
    out = Path(out)
    files, decoded = build()
    sizes = {}
    for name, data in files.items():
        st_io.write_atomic(out / name, data, overwrite=True)
        sizes[name] = len(data)
    tensors = expected_tensors(out, files, decoded)
    labels = gzip.decompress(files["fmnist-test-4-labels-idx1-ubyte.gz"])[8:]
    meta = {"format": "spikeclip-image-fixtures", "format_version": "1", "generator": GENERATOR,
            "targets": json.dumps(TARGETS, sort_keys=True),
            "idx_labels": json.dumps([int(b) for b in labels]),
            "images": json.dumps(sorted(k[len("decoded/"):] for k in tensors if k.startswith("decoded/")))}
    data = st_io.serialize(tensors, meta)
    st_io.write_atomic(out / "expected.safetensors", data, overwrite=True)
    sizes["expected.safetensors"] = len(data)
    return sizes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    sizes = write(args.out)
    print(f"wrote {len(sizes)} files, {sum(sizes.values())} bytes, to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
