"""Image fixtures and the reference preprocessing pipeline (docs/PREPROCESSING.md)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.numpy import load_file

from spikeclip_training import demo_images, image_fixtures
from spikeclip_training.preprocess import (ImageDecodeError, LUMA_BT601, decode_bytes, decode_file, decode_png_numpy,
                                           decode_pnm, idx_image, preprocess, resize_bilinear)

from conftest import FIXTURES_DIR, REPO

IMAGES = FIXTURES_DIR / "images"


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_committed_image_fixtures_equal_a_fresh_regeneration(tmp_path):
    image_fixtures.write(tmp_path)
    fresh, committed = _tree(tmp_path), _tree(IMAGES)
    assert sorted(fresh) == sorted(committed)
    changed = [name for name in fresh if fresh[name] != committed[name]]
    assert changed == [], f"regenerate with python -m spikeclip_training.image_fixtures --out Tests/Fixtures/images: {changed}"
    assert sum(len(b) for b in committed.values()) < 1_000_000


def test_committed_demo_images_equal_a_fresh_regeneration(tmp_path):
    demo_images.write(tmp_path)
    fresh, committed = _tree(tmp_path), _tree(REPO / "assets" / "images")
    assert fresh == committed
    labels = {e.pop("file"): e for e in json.loads(committed["labels.json"])["images"]}
    fashion = {f: e for f, e in labels.items() if "class_index" in e}
    assert len(fashion) == 20
    assert sorted(e["class_index"] for e in fashion.values()) == sorted(list(range(10)) * 2)
    opened = {f: e for f, e in labels.items() if "class_index" not in e}
    assert len(opened) == len(demo_images.OPEN_DEMO)
    for file, entry in opened.items():                      # the canonical views of opendata.py
        arr = np.asarray(Image.open(io.BytesIO(committed[file])))
        assert arr.shape == (32, 32, 3) and entry["licence"] and entry["source"] in ("emoji", "clipart")
    records = gzip_records()
    for file, entry in fashion.items():
        arr = np.asarray(Image.open(io.BytesIO(committed[file])))
        assert arr.shape == (28, 28)
        assert np.array_equal(arr, records[entry["record_index"]])


def gzip_records() -> np.ndarray:
    import gzip
    data = gzip.decompress(image_fixtures.FASHION_TEST_IMAGES.read_bytes())
    return np.frombuffer(data[16:], np.uint8).reshape(-1, 28, 28)


@pytest.mark.parametrize("size_in,size_out", [((9, 9), (28, 28)), ((38, 38), (32, 32)), ((13, 7), (5, 11)),
                                              ((28, 28), (32, 32)), ((17, 10), (17, 10)), ((3, 50), (1, 2))])
def test_bilinear_equals_torch_interpolate(size_in, size_out):
    x = torch.rand(3, *size_in, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    want = F.interpolate(x[None], size=size_out, mode="bilinear", align_corners=False, antialias=False)[0]
    got = resize_bilinear(x.numpy(), *size_out)
    assert got.shape == tuple(want.shape)
    assert np.max(np.abs(got - want.numpy())) < 1e-12
    # float32 torch (what a training pipeline would run) agrees to float rounding.
    want32 = F.interpolate(x.float()[None], size=size_out, mode="bilinear", align_corners=False, antialias=False)[0]
    assert np.max(np.abs(got - want32.double().numpy())) < 1e-6


def test_luma_and_compositing_on_one_pixel():
    rgb = np.array([[[0.2, 0.6, 1.0]]])
    assert LUMA_BT601 == (0.299, 0.587, 0.114)
    y = preprocess(rgb, [1, 1], 1, [0.0], [1.0])
    assert y.shape == (1, 1, 1)
    assert y[0, 0, 0] == pytest.approx(0.299 * 0.2 + 0.587 * 0.6 + 0.114 * 1.0, abs=1e-7)
    rgba = np.array([[[0.8, 0.4, 1.0, 0.5]]])      # composited on black: colour * alpha
    assert preprocess(rgba, [1, 1], 3, [0, 0, 0], [1, 1, 1]).ravel().tolist() == pytest.approx([0.4, 0.2, 0.5])
    gray_alpha = np.array([[[1.0, 0.0]]])           # fully transparent white is black
    assert preprocess(gray_alpha, [1, 1], 1, [0.5], [0.25]).ravel().tolist() == [-2.0]
    gray = np.array([[[0.25]]])                     # gray -> RGB replicates
    assert preprocess(gray, [1, 1], 3, [0, 0, 0], [1, 1, 1]).ravel().tolist() == [0.25, 0.25, 0.25]


def test_center_crop_takes_the_middle_rounding_down():
    x = np.arange(3 * 6, dtype=np.float64).reshape(3, 6, 1)      # H 3, W 6: columns 1..3 (offset floor(3/2) = 1)
    out = preprocess(x, [3, 3], 1, [0.0], [1.0])
    assert out[0].tolist() == [[1, 2, 3], [7, 8, 9], [13, 14, 15]]


def test_numpy_png_decoder_agrees_with_pillow_where_pillow_is_exact():
    names = [p.name for p in IMAGES.glob("png_*.png")]
    assert len(names) >= 20
    checked = 0
    for name in names:
        data = (IMAGES / name).read_bytes()
        ours = decode_png_numpy(data, name)
        if data[24] == 16:
            if data[25] != 0:
                continue                            # Pillow reduces 16-bit colour to 8 bits
            pil = np.asarray(Image.open(io.BytesIO(data)), dtype=np.float64)[:, :, None] / 65535.0
        else:
            pil = decode_file(IMAGES / name)
        assert ours.shape == pil.shape, name
        assert np.max(np.abs(ours - pil)) == 0, name
        checked += 1
    assert checked >= 17


def test_pnm_parser_agrees_with_pillow_on_8_bit_files():
    for name in ["pgm_p5_8.pgm", "ppm_p6_8.ppm", "ppm_p3_ascii.ppm"]:
        ours = decode_pnm((IMAGES / name).read_bytes(), name)
        pil = np.asarray(Image.open(IMAGES / name), dtype=np.float64) / 255.0
        assert np.array_equal(ours, pil.reshape(ours.shape)), name


def test_expected_tensors_match_the_pipeline_and_shapes():
    tensors = load_file(str(IMAGES / "expected.safetensors"))
    names = [k[len("decoded/"):] for k in tensors if k.startswith("decoded/")]
    assert len(names) >= 40
    for name in names:
        assert tensors[f"fmnist/{name}"].shape == (1, 28, 28)
        assert tensors[f"rgb32/{name}"].shape == (3, 32, 32)
    hwc = idx_image(IMAGES / "fmnist-test-4-images-idx3-ubyte.gz", 2)
    cfg = image_fixtures.TARGETS["rgb32"]
    assert np.array_equal(tensors["rgb32/fmnist-test-4-images-idx3-ubyte.gz#2"], preprocess(hwc, **cfg))
    # 16-bit samples keep their precision (/65535), not reduced to 8 bits.
    rgb16 = tensors["decoded/png_rgb16.png"].astype(np.float64) * 65535
    assert np.max(np.abs(rgb16 - np.rint(rgb16))) < 0.01
    assert np.any(np.abs(rgb16 / 257 - np.rint(rgb16 / 257)) > 0.1)


@pytest.mark.parametrize("name", ["empty.png", "text.png", "zero_height.pgm", "huge_side.ppm", "huge_area.pgm"])
def test_python_decoder_rejects_bad_files(name):
    with pytest.raises(ImageDecodeError, match=name.replace(".", r"\.")):
        decode_bytes((IMAGES / "bad" / name).read_bytes(), name)
