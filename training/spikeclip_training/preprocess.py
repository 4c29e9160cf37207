"""Reference image pipeline: decode, scale, composite, convert channels, crop, resize, normalise.

The rules are written down once, in ``docs/PREPROCESSING.md``; this module implements them explicitly (no
library default decides anything) and the Swift engine (``Sources/SpikeCLIP/Images``) must match it:

1. decode; samples scaled to [0, 1]: 8-bit / 255, 16-bit / 65535, PGM/PPM / maxval, 1/2/4-bit gray /
   (2^bits - 1); palette -> RGB(A); PNG tRNS -> alpha. gAMA/iCCP/sRGB are ignored, EXIF orientation is not applied.
2. alpha composited on black: ``c * a``, alpha dropped;
3. channels: gray -> RGB by replication, RGB -> gray by ITU-R BT.601 luma ``0.299 R + 0.587 G + 0.114 B``;
4. center crop to a square of side ``S = min(H, W)``, offsets ``(H - S) // 2`` and ``(W - S) // 2``;
5. bilinear resize to the config's ``[H, W]`` as ``F.interpolate(mode="bilinear", align_corners=False,
   antialias=False)``, written out here (:func:`resize_bilinear`; the tests compare it with torch);
6. ``(x - mean[c]) / std[c]``.

Decoding: Pillow for JPEG and PNG of up to 8 bits per sample; PNG of 16 bits per sample with the small numpy
decoder below (Pillow reduces 16-bit RGB, RGBA and LA to 8 bits); PGM/PPM (P2, P3, P5, P6) and IDX with the
parsers below (Pillow reduces 16-bit PPM to 8 bits). Computation is float64; the result is float32 ``[C, H, W]``.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from pathlib import Path

import numpy as np

LUMA_BT601 = (0.299, 0.587, 0.114)
MAX_SIDE = 16384
MAX_PIXELS = 1 << 26
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ImageDecodeError(ValueError):
    """A file is not an image this pipeline reads, or is malformed (the message names the file)."""


# ----------------------------------------------------------------------------- decoding

def check_size(width: int, height: int, name: str) -> None:
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"{name}: image has zero size ({width}x{height})")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise ImageDecodeError(f"{name}: image is {width}x{height}, above the limit")


def decode_file(path) -> np.ndarray:
    """The image at ``path`` as float64 ``[H, W, C]`` in [0, 1], C in 1..4 (gray, gray+alpha, RGB, RGBA)."""
    path = Path(path)
    return decode_bytes(path.read_bytes(), str(path))


def decode_bytes(data: bytes, name: str = "<bytes>") -> np.ndarray:
    if not data:
        raise ImageDecodeError(f"{name}: empty file")
    if data.startswith(PNG_SIGNATURE):
        if len(data) > 24 and data[24] == 16:
            return decode_png_numpy(data, name)
        return _decode_pillow(data, name, png_gray_bits=data[24] if len(data) > 25 and data[25] == 0 else 8)
    if data.startswith(b"\xff\xd8\xff"):
        return _decode_pillow(data, name)
    if data[:2] in (b"P2", b"P3", b"P5", b"P6"):
        return decode_pnm(data, name)
    raise ImageDecodeError(f"{name}: not an image")


def _decode_pillow(data: bytes, name: str, png_gray_bits: int = 8) -> np.ndarray:
    from PIL import Image
    im = Image.open(io.BytesIO(data))
    im.load()
    check_size(im.width, im.height, name)
    trns = im.info.get("transparency")
    if im.mode == "P":
        im = im.convert("RGBA" if trns is not None else "RGB")
        trns = None
    if im.mode == "1":
        im = im.convert("L")
    if im.mode not in ("L", "LA", "RGB", "RGBA"):
        raise ImageDecodeError(f"{name}: unsupported Pillow mode {im.mode}")
    arr = np.asarray(im, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    samples = arr.astype(np.float64) / 255.0
    if trns is not None and im.mode in ("L", "RGB"):   # PNG tRNS on gray / RGB: that exact colour is transparent
        key = np.asarray(trns if isinstance(trns, tuple) else (trns,), dtype=np.int64)
        if im.mode == "L" and png_gray_bits < 8:   # Pillow scales 1/2/4-bit gray to 8 bits but not its tRNS key
            key = key * (255 // ((1 << png_gray_bits) - 1))
        alpha = np.where(np.all(arr.astype(np.int64) == key, axis=2), 0.0, 1.0)[:, :, None]
        samples = np.concatenate([samples, alpha], axis=2)
    return samples


def decode_pnm(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """PGM/PPM, ASCII (P2, P3) or binary (P5, P6), maxval 1..65535 (two bytes big-endian above 255)."""
    kind = data[:2]
    channels = 1 if kind in (b"P2", b"P5") else 3
    pos = 2
    values = []

    def token():
        nonlocal pos
        while pos < len(data):
            c = data[pos:pos + 1]
            if c in b" \t\n\r\x0b\x0c" and c:
                pos += 1
            elif c == b"#":
                while pos < len(data) and data[pos:pos + 1] not in (b"\n", b"\r"):
                    pos += 1
            else:
                break
        start = pos
        while pos < len(data) and data[pos:pos + 1].isdigit():
            pos += 1
        if start == pos:
            raise ImageDecodeError(f"{name}: truncated or malformed PNM")
        return int(data[start:pos])

    width, height, maxval = token(), token(), token()
    check_size(width, height, name)
    if not 1 <= maxval <= 65535:
        raise ImageDecodeError(f"{name}: PNM maxval {maxval} outside 1..65535")
    count = width * height * channels
    if kind in (b"P2", b"P3"):
        values = np.array([token() for _ in range(count)], dtype=np.int64)
    else:
        pos += 1   # exactly one whitespace byte
        dtype = np.dtype(">u2") if maxval > 255 else np.dtype("u1")
        raw = data[pos:pos + count * dtype.itemsize]
        if len(raw) < count * dtype.itemsize:
            raise ImageDecodeError(f"{name}: truncated PNM")
        values = np.frombuffer(raw, dtype=dtype).astype(np.int64)
    if values.max(initial=0) > maxval:
        raise ImageDecodeError(f"{name}: sample above maxval {maxval}")
    return (values.astype(np.float64) / maxval).reshape(height, width, channels)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(raw: bytes, pos: int, rows: int, row_bytes: int, bpp: int) -> tuple[list[bytearray], int]:
    out, prev = [], bytearray(row_bytes)
    for _ in range(rows):
        ftype = raw[pos]
        line = bytearray(raw[pos + 1:pos + 1 + row_bytes])
        pos += 1 + row_bytes
        for i in range(row_bytes):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pred = (0, a, b, (a + b) // 2, _paeth(a, b, c))[ftype]
            line[i] = (line[i] + pred) & 0xFF
        out.append(line)
        prev = line
    return out, pos


def decode_png_numpy(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """A small PNG decoder (all colour types and bit depths, tRNS, Adam7), used here for 16-bit files."""
    pos, idat, plte, trns, ihdr = 8, b"", None, None, None
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if ctype == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif ctype == b"PLTE":
            plte = np.frombuffer(body, np.uint8).reshape(-1, 3)
        elif ctype == b"tRNS":
            trns = body
        elif ctype == b"IDAT":
            idat += body
        elif ctype == b"IEND":
            break
        pos += 12 + length
    width, height, depth, ctype, _, _, interlace = ihdr
    check_size(width, height, name)
    channels = _PNG_CHANNELS[ctype]
    raw = zlib.decompress(idat)
    bits = channels * depth
    bpp = max(1, bits // 8)
    samples = np.zeros((height, width, channels), np.int64)
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    pos = 0
    for x0, y0, dx, dy in passes:
        pw, ph = len(range(x0, width, dx)), len(range(y0, height, dy))
        if pw == 0 or ph == 0:
            continue
        row_bytes = (pw * bits + 7) // 8
        lines, pos = _unfilter(raw, pos, ph, row_bytes, bpp)
        for j, line in enumerate(lines):
            buf = np.frombuffer(bytes(line), np.uint8)
            if depth == 16:
                vals = buf.view(">u2").astype(np.int64)
            elif depth == 8:
                vals = buf.astype(np.int64)
            else:
                vals = np.unpackbits(buf).reshape(-1, depth) @ (1 << np.arange(depth - 1, -1, -1))
            samples[y0 + j * dy, x0::dx][:pw] = vals[:pw * channels].reshape(pw, channels)
    maxval = (1 << depth) - 1
    if ctype == 3:
        idx = samples[:, :, 0]
        rgb = plte[idx].astype(np.float64) / 255.0
        if trns is not None:
            alpha_table = np.full(len(plte), 255, np.int64)
            alpha_table[:len(trns)] = np.frombuffer(trns, np.uint8)
            rgb = np.concatenate([rgb, alpha_table[idx][:, :, None] / 255.0], axis=2)
        return rgb
    out = samples.astype(np.float64) / maxval
    if trns is not None and ctype in (0, 2):
        key = np.frombuffer(trns, ">u2").astype(np.int64)
        alpha = np.where(np.all(samples == key, axis=2), 0.0, 1.0)[:, :, None]
        out = np.concatenate([out, alpha], axis=2)
    return out


def read_idx(path, name: str | None = None) -> np.ndarray:
    """An IDX file of unsigned bytes (plain or gzip) as a uint8 array of its declared shape."""
    path = Path(path)
    data = path.read_bytes()
    name = name or str(path)
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ImageDecodeError(f"{name}: not an IDX file of unsigned bytes (bad magic)")
    dims = data[3]
    shape = struct.unpack(f">{dims}I", data[4:4 + 4 * dims])
    n = int(np.prod(shape))
    body = data[4 + 4 * dims:4 + 4 * dims + n]
    if len(body) < n:
        raise ImageDecodeError(f"{name}: truncated IDX data")
    return np.frombuffer(body, np.uint8).reshape(shape)


def idx_image(path, index: int) -> np.ndarray:
    """Record ``index`` of an IDX image file as float64 ``[H, W, 1]`` (samples / 255)."""
    records = read_idx(path)
    if not 0 <= index < records.shape[0]:
        raise ImageDecodeError(f"{path}: IDX record {index} out of range ({records.shape[0]} records)")
    return records[index].astype(np.float64)[:, :, None] / 255.0


# ----------------------------------------------------------------------------- preprocessing

def composite_on_black(hwc: np.ndarray) -> np.ndarray:
    """``[H, W, C]`` -> ``[C', H, W]`` with colour * alpha when C is 2 or 4 (alpha dropped)."""
    hwc = np.asarray(hwc, dtype=np.float64)
    c = hwc.shape[2]
    if c in (2, 4):
        hwc = hwc[:, :, :c - 1] * hwc[:, :, c - 1:]
    return np.ascontiguousarray(hwc.transpose(2, 0, 1))


def convert_channels(chw: np.ndarray, channels: int, luma=LUMA_BT601) -> np.ndarray:
    """1 -> 3 by replication; 3 -> 1 by ``luma[0] R + luma[1] G + luma[2] B``."""
    if chw.shape[0] == channels:
        return chw
    if channels == 3:
        return np.concatenate([chw, chw, chw], axis=0)
    if channels == 1:
        return (luma[0] * chw[0] + luma[1] * chw[1] + luma[2] * chw[2])[None]
    raise ValueError(f"channels must be 1 or 3, got {channels}")


def center_crop_square(chw: np.ndarray) -> np.ndarray:
    """The centered square of side ``min(H, W)``; offsets round down."""
    _, h, w = chw.shape
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return chw[:, top:top + s, left:left + s]


def _taps(n_in: int, n_out: int):
    scale = n_in / n_out
    src = np.maximum((np.arange(n_out) + 0.5) * scale - 0.5, 0.0)
    i0 = src.astype(np.int64)
    i1 = np.where(i0 < n_in - 1, i0 + 1, i0)
    lam = src - i0
    return i0, i1, 1.0 - lam, lam


def resize_bilinear(chw: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize, PyTorch ``align_corners=False`` and no antialiasing, written out:
    ``src = max((dst + 0.5) * in / out - 0.5, 0)``, ``i0 = floor(src)``, ``i1 = min(i0 + 1, in - 1)``,
    ``lambda = src - i0``; rows then columns blended with ``(1 - lambda, lambda)``."""
    _, h, w = chw.shape
    if (h, w) == (height, width):
        return chw
    r0, r1, rw0, rw1 = _taps(h, height)
    c0, c1, cw0, cw1 = _taps(w, width)
    top = chw[:, r0][:, :, c0] * cw0 + chw[:, r0][:, :, c1] * cw1
    bottom = chw[:, r1][:, :, c0] * cw0 + chw[:, r1][:, :, c1] * cw1
    return top * rw0[None, :, None] + bottom * rw1[None, :, None]


def normalize(chw: np.ndarray, mean, std) -> np.ndarray:
    mean = np.asarray(mean, np.float64)[:, None, None]
    std = np.asarray(std, np.float64)[:, None, None]
    return (chw - mean) / std


def preprocess(hwc: np.ndarray, image_size, channels: int, mean, std) -> np.ndarray:
    """Decoded ``[H, W, C]`` in [0, 1] -> model input float32 ``[channels, image_size[0], image_size[1]]``."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    x = composite_on_black(hwc)
    x = convert_channels(x, channels)
    x = center_crop_square(x)
    x = resize_bilinear(x, int(image_size[0]), int(image_size[1]))
    return normalize(x, mean, std).astype(np.float32)


def preprocess_config(hwc: np.ndarray, config) -> np.ndarray:
    """:func:`preprocess` with a :class:`~spikeclip_training.config.PreprocessConfig`."""
    return preprocess(hwc, config.image_size, config.channels, config.mean, config.std)


def preprocess_file(path, config) -> np.ndarray:
    return preprocess_config(decode_file(path), config)
