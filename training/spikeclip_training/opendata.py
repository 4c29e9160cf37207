"""The open-vocabulary image-text set of the ``open`` configuration (issue 16): colour 3x32x32 pictures of a few
thousand everyday concepts from four Debian packages, with captions, held-out concepts and deterministic splits.

Sources (docs/TRAINING.md has the data card: counts, caption examples, licences):

- ``fonts-noto-color-emoji`` (SIL OFL 1.1): the colour bitmaps (CBDT table, PNG strikes) of every single-code-point
  emoji that has an English CLDR name; skin-tone modifiers, regional indicators and keycaps are left out.
- ``unicode-cldr-core`` (Unicode licence): ``common/annotations/en.xml``: each emoji's name (``type="tts"``) and
  keywords.
- ``openclipart-png`` (public domain, CC0): clip art of the everyday category folders in :data:`CLIPART_CATEGORIES`
  (icons, shapes, flags, patterns and the unsorted folder are left out); a picture's concept is the first word or
  two-word phrase of its file name that is a WordNet noun and not an artist's name (:func:`clipart_concept`),
  else its folder's name.
- ``dataset-fashion-mnist`` (MIT): the 10 garment classes (grey replicated to RGB, resized 28 -> 32 bilinear like
  the Swift engine's preprocessing of a 28x28 grey image for a 3x32x32 model).
- ``wordnet-base`` (WordNet 3.0 licence): synonyms and glosses for captions and the text corpus (``text.py``).

Pictures (emoji, clip art) become 32x32 RGBA: the picture is padded to a square with transparent pixels, area-
averaged (premultiplied alpha, float64) to 28x28 and centred on a 32x32 transparent canvas (2-pixel margin);
:func:`to_rgba32`. The canonical view, what evaluation and the demo images use, is that RGBA composited on black
(the engine's preprocessing, docs/PREPROCESSING.md), stored as premultiplied RGB; training composites the same
RGBA on random backgrounds.

Splits (independent of the run seed; a SHA-256 of the name decides, so adding a picture never moves another):

- held-out concepts: every pictogram concept whose ``sha256("heldout:" + name)`` falls in the lowest
  :data:`HELDOUT_PERCENT` percent; none of their pictures, names or keywords reaches any training stage (text corpus
  included: :func:`mentions` filters every training sentence);
- held-out images of seen concepts: of concepts with at least 3 pictures, a picture whose path hashes into the
  lowest 15 % goes to ``val`` or ``test`` (alternately by hash), the rest to ``train``; concepts with 1-2 pictures
  keep all of them in ``train``;
- Fashion-MNIST keeps its split (``data.py``): train 0..54999, val 55000..59999, test t10k.
- :data:`FMNIST_SYNONYMS`: everyday names for the 10 garments that no training caption contains (captions that
  would are dropped; :func:`build` checks it).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from . import data

EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
CLDR_ANNOTATIONS = Path("/usr/share/unicode/cldr/common/annotations/en.xml")
CLIPART_DIR = Path("/usr/share/openclipart/png")
HELDOUT_PERCENT = 17
IMAGE_SIZE = 32
CONTENT_SIZE = 28
VERSION = 5                     # bump when the build rules change (cache key)

# Everyday clip-art folders (relative to CLIPART_DIR; sub-folders included unless listed in CLIPART_SKIP).
CLIPART_CATEGORIES = [
    "animals", "buildings", "containers", "education", "electronics", "food", "office", "people/clothing",
    "people/bodypart", "plants", "recreation/music", "recreation/sports", "recreation/toys", "recreation/games/chess",
    "recreation/games/dice", "recreation/holiday", "recreation/party", "science", "tools", "transportation/vehicles",
    "transportation/boating", "transportation", "geography/astronomy", "signs_and_symbols/clocks",
    "signs_and_symbols/weather", "signs_and_symbols/money",
]
CLIPART_SKIP = ["transportation/roadsigns", "transportation/aiga-symbols"]
# File-name words that are not the depicted thing (colour words, style words, common artists' names).
_NAME_STOP = set("""
bw b w color colour colored coloured black white grey gray red green blue yellow orange purple pink brown clip clipart
art icon icons cartoon simple line lines outline contour silhouette drawing sketch vector stylized style old new
small big large little happy cute funny one two three another an a the of with and or on in for by de di il la le
remix architetto franc frances francesco fran nicu bucu susan park jonathan dietrich dietri graig ryan smith linda
kim janet theobald theob gerhard dan ganson johnny automatic jarno vasamaa gnokii machovka liftarn papapishu
rygle molumen sheikh tanvir aungkarns jean victor balin rones pitr mystica chrisdesign yves guillou gerald dynamicwork
hatalar anonymous unknown openclipart png svg version ver set part piece col neve seta lota pas main pallone gat lab
hart dodge cuppa glossy compact
""".split())

FMNIST_SYNONYMS = {
    "everyday": ["tee", "pants", "sweater", "gown", "overcoat", "flip-flop", "blouse", "running shoe", "handbag",
                 "short boot"],
    "descriptive": ["short-sleeved top", "slacks", "knitted jumper", "frock", "winter jacket", "open-toed shoe",
                    "button-down shirt", "sports shoe", "purse", "bootee"],
}


@dataclass
class Concept:
    name: str                       # the zero-shot class name (what a prompt template is filled with)
    source: str                     # "emoji", "clipart", "fashion-mnist"
    category: str                   # emoji: "emoji"; clip art: folder path; fashion-mnist: "clothing"
    captions: list = field(default_factory=list)   # extra training captions (keywords, category, WordNet)
    heldout: bool = False


@dataclass
class Pictures:
    """Pictograms of one build: ``rgba`` uint8 ``[N, 32, 32, 4]`` (straight alpha), concept index ``[N]``, split
    ``[N]`` ("train"/"val"/"test"/"heldout") and source path (or emoji code point) per picture."""
    rgba: np.ndarray
    concept: np.ndarray
    split: list
    origin: list


# ----------------------------------------------------------------------------- picture geometry

def area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``[n_out, n_in]`` area-averaging weights: output cell ``i`` covers ``[i n_in / n_out, (i+1) n_in / n_out)``
    of the input axis; each row sums to 1 (exact for up- and down-scaling)."""
    edges = np.arange(n_out + 1, dtype=np.float64) * (n_in / n_out)
    lo, hi = edges[:-1, None], edges[1:, None]
    j = np.arange(n_in, dtype=np.float64)[None, :]
    overlap = np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0, None)
    return overlap / overlap.sum(1, keepdims=True)


def to_rgba32(hwc: np.ndarray) -> np.ndarray:
    """Decoded picture float ``[H, W, C]`` in [0, 1] (C 1-4) -> uint8 ``[32, 32, 4]`` straight-alpha RGBA: padded to a
    square (transparent, centred), area-averaged with premultiplied alpha to 28x28, centred in 32x32."""
    h, w, c = hwc.shape
    if c in (1, 2):
        rgb = np.repeat(hwc[..., :1], 3, axis=2)
    else:
        rgb = hwc[..., :3]
    a = hwc[..., -1:] if c in (2, 4) else np.ones((h, w, 1))
    s = max(h, w)
    sq = np.zeros((s, s, 4))
    y0, x0 = (s - h) // 2, (s - w) // 2
    sq[y0:y0 + h, x0:x0 + w, :3] = rgb * a
    sq[y0:y0 + h, x0:x0 + w, 3:] = a
    m = area_matrix(s, CONTENT_SIZE)
    rows = (m @ sq.reshape(s, s * 4)).reshape(CONTENT_SIZE, s, 4)     # [28, s, 4]
    small = np.einsum("jx,ixc->ijc", m, rows, optimize=True)          # [28, 28, 4] premultiplied
    alpha = small[..., 3:]
    straight = np.where(alpha > 1e-12, small[..., :3] / np.maximum(alpha, 1e-12), 0.0)
    out = np.zeros((IMAGE_SIZE, IMAGE_SIZE, 4))
    o = (IMAGE_SIZE - CONTENT_SIZE) // 2
    out[o:o + CONTENT_SIZE, o:o + CONTENT_SIZE, :3] = np.clip(straight, 0, 1)
    out[o:o + CONTENT_SIZE, o:o + CONTENT_SIZE, 3:] = np.clip(alpha, 0, 1)
    return np.rint(out * 255).astype(np.uint8)


def on_black(rgba: np.ndarray) -> np.ndarray:
    """uint8 ``[..., 32, 32, 4]`` -> uint8 ``[..., 32, 32, 3]``: composited on black, rounded (the canonical view;
    the engine composites a PNG's alpha on black the same way)."""
    a = rgba[..., 3:].astype(np.float64) / 255
    return np.rint(rgba[..., :3].astype(np.float64) * a).astype(np.uint8)


def visible_on_black(rgba: np.ndarray, min_coverage: float = 0.04, min_luma: float = 0.15) -> bool:
    """A picture is kept if its alpha covers at least ``min_coverage`` of the 28x28 box and its opaque pixels
    (alpha > 1/2) have a mean BT.601 luma of at least ``min_luma`` on black (black line art would vanish)."""
    a = rgba[..., 3].astype(np.float64) / 255
    if a.sum() < min_coverage * CONTENT_SIZE * CONTENT_SIZE:
        return False
    luma = (on_black(rgba).astype(np.float64) / 255) @ np.array([0.299, 0.587, 0.114])
    m = a > 0.5
    return bool(m.any()) and float(luma[m].mean()) >= min_luma


# ----------------------------------------------------------------------------- text helpers

def normalise_name(s: str) -> str:
    s = s.lower().replace("\u2019", "'").replace("_", " ")
    s = re.sub(r"[^a-z0-9' \-]", " ", s)
    return re.sub(r"\s+", " ", s).strip()


def mentions(text: str, phrases: Sequence[str]) -> bool:
    """True if ``text`` contains one of ``phrases`` as whole words (case-insensitive; hyphens and spaces alike)."""
    t = " " + re.sub(r"[^a-z0-9']+", " ", text.lower()) + " "
    for p in phrases:
        q = re.sub(r"[^a-z0-9']+", " ", p.lower()).strip()
        if q and f" {q} " in t:
            return True
    return False


def _phrase_regex(phrases: Sequence[str]):
    qs = sorted({re.sub(r"[^a-z0-9']+", " ", p.lower()).strip() for p in phrases} - {""}, key=len, reverse=True)
    if not qs:
        return None
    return re.compile(r"(?<![a-z0-9'])(?:" + "|".join(re.escape(q) for q in qs) + r")(?![a-z0-9'])")


class PhraseFilter:
    """Fast :func:`mentions` for many phrases (one compiled alternation)."""

    def __init__(self, phrases: Sequence[str]):
        self.rx = _phrase_regex(phrases)

    def __call__(self, text: str) -> bool:
        if self.rx is None:
            return False
        return self.rx.search(re.sub(r"[^a-z0-9']+", " ", text.lower())) is not None


def reserved_phrases() -> list[str]:
    """Every Fashion-MNIST synonym (they must stay out of all training captions)."""
    return [s for lst in FMNIST_SYNONYMS.values() for s in lst]


# ----------------------------------------------------------------------------- sources

def emoji_annotations(path: Path = CLDR_ANNOTATIONS) -> dict[str, tuple[str, list[str]]]:
    """code-point string -> (CLDR English name, keywords) from ``annotations/en.xml``. Raises ``FileNotFoundError``
    (package ``unicode-cldr-core`` missing) or ``ValueError`` (malformed XML, naming the file)."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise ValueError(f"{path}: malformed XML ({e})") from None
    names: dict[str, str] = {}
    keywords: dict[str, list[str]] = {}
    for a in root.iter("annotation"):
        cp, txt = a.get("cp"), (a.text or "").strip()
        if not cp or not txt:
            continue
        if a.get("type") == "tts":
            names[cp] = txt
        else:
            keywords[cp] = [k.strip() for k in txt.split("|") if k.strip()]
    return {cp: (n, keywords.get(cp, [])) for cp, n in names.items()}


def _emoji_ok(cp: str) -> Optional[int]:
    s = cp.replace("\ufe0f", "")
    if len(s) != 1:
        return None
    o = ord(s)
    if 0x1F3FB <= o <= 0x1F3FF or 0x1F1E6 <= o <= 0x1F1FF or o < 0xA9 or 0x1F9B0 <= o <= 0x1F9B3:
        return None
    return o


def emoji_pictures(font: Path = EMOJI_FONT, annotations: Path = CLDR_ANNOTATIONS):
    """[(code point, name, keywords, decoded float [H, W, 4])] for every usable emoji (module docstring)."""
    from fontTools.ttLib import TTFont
    from .preprocess import decode_bytes
    f = TTFont(str(font))
    cmap = f.getBestCmap()
    strike = f["CBDT"].strikeData[0]
    out = []
    for cp, (name, kws) in sorted(emoji_annotations(annotations).items()):
        o = _emoji_ok(cp)
        if o is None or o not in cmap or cmap[o] not in strike:
            continue
        png = strike[cmap[o]].imageData
        out.append((f"U+{o:04X}", name, kws, decode_bytes(bytes(png), f"{font}:U+{o:04X}")))
    return out


_WN_NOUNS: dict = {}


# The WordNet 3.0 noun senses (``data.noun`` offsets) that name each Fashion-MNIST garment, chosen by hand: the
# clothing sense of "top", "dress", "coat", "boot" and both carrying senses of "bag" (docs/DECISIONS.md).
FMNIST_WORDNET_SENSES = {
    "T-shirt/top": ["03595614", "04453666"], "Trouser": ["04489008"], "Pullover": ["04021028"],
    "Dress": ["03236735"], "Coat": ["03057021"], "Sandal": ["04133789"], "Shirt": ["04197391"],
    "Sneaker": ["03472535"], "Bag": ["02773037", "02774152"], "Ankle boot": ["02872752"],
}


def wordnet_synsets(offsets: Sequence[str], path: Optional[Path] = None) -> dict[str, tuple[list, str, list]]:
    """offset -> (lemmas, gloss, hypernyms' first lemmas) for the given ``data.noun`` offsets
    (``text.wordnet_synset_rows``; the gloss also without a leading parenthesis such as "(usually in the plural)").
    Raises ``KeyError`` naming an offset that is not in the file, ``FileNotFoundError`` if WordNet is absent
    (Debian ``wordnet-base``)."""
    from .text import wordnet_synset_rows
    rows = {off: (lemmas, re.sub(r"^\(.*?\)\s*", "", gloss), hyper)
            for off, _, lemmas, gloss, hyper in wordnet_synset_rows(path)}
    out = {}
    for off in offsets:
        if off not in rows:
            raise KeyError(f"WordNet data.noun: no noun synset at offset {off}")
        lemmas, gloss, hyper = rows[off]
        out[off] = (lemmas, gloss, [rows[h][0][0] for h in hyper if h in rows])
    return out


def fmnist_wordnet_captions(heldout: Sequence[str] = ()) -> list[list[str]]:
    """Extra captions for the 10 garments (label order) from :data:`FMNIST_WORDNET_SENSES`: ``"a {lemma}, {gloss}."``
    for every lemma of a sense and ``"a {lemma}, a kind of {hypernym}."`` for its first lemma. A caption is dropped
    if it contains a reserved synonym (:data:`FMNIST_SYNONYMS`), names another garment of the ten (it would blur the
    class bank: "a close-fitting pullover shirt" for T-shirt) or mentions a held-out concept (``heldout``)."""
    senses = wordnet_synsets([o for offs in FMNIST_WORDNET_SENSES.values() for o in offs])
    reserved = PhraseFilter(reserved_phrases())
    held = PhraseFilter(list(heldout))
    heads = {c: [w for w in re.split(r"[/ ]", c.lower()) if w] for c in data.CLASSES}
    heads["Ankle boot"] = ["boot"]
    out = []
    for c in data.CLASSES:
        others = PhraseFilter([w for o in data.CLASSES if o != c for w in heads[o] if w not in heads[c]])
        caps: list[str] = []
        for off in FMNIST_WORDNET_SENSES[c]:
            lemmas, gloss, hyper = senses[off]
            cand = [f"a {lem}, {gloss}." for lem in lemmas] + [f"a {lemmas[0]}, a kind of {h}." for h in hyper]
            caps += [x for x in cand if x not in caps and not reserved(x) and not others(x) and not held(x)]
        out.append(caps)
    return out


def wordnet_lemmas() -> dict[str, tuple[str, str]]:
    """lemma -> (gloss, lexicographer file) of WordNet nouns (first lemma of each synset, ``text.wordnet_nouns``)."""
    if "d" not in _WN_NOUNS:
        from .text import wordnet_nouns
        d = {}
        for lemma, gloss, lex in wordnet_nouns():
            d.setdefault(lemma, (gloss, lex))
        _WN_NOUNS["d"] = d
    return _WN_NOUNS["d"]


def _singular(w: str, lemmas) -> str:
    for cut, add in (("ies", "y"), ("es", ""), ("s", "")):
        if w.endswith(cut) and len(w) > len(cut) + 2 and (w[:-len(cut)] + add) in lemmas:
            return w[:-len(cut)] + add
    return w


_CONCRETE_LEX = ("05", "06", "08", "13", "17", "20")     # WordNet animal, artifact, body, food, object, plant


def clipart_concept(path: Path, lemmas) -> Optional[str]:
    """The concept a clip-art file shows: the first two-word or one-word WordNet noun among its file-name words
    (colour, style and artists' words skipped, plurals singularised; concrete lexicographer files only), else its
    folder's last name (singular) if that is such a noun, else None (the picture is left out)."""
    words = [w for w in re.split(r"[^a-z]+", path.stem.lower()) if w]
    words = [_singular(w, lemmas) for w in words if w not in _NAME_STOP and len(w) > 2]
    for i in range(len(words) - 1):
        p = f"{words[i]} {words[i + 1]}"
        if p in lemmas:
            return p
    for w in words:
        if w in lemmas and lemmas[w][1] in _CONCRETE_LEX:
            return w
    folder = _singular(path.parent.name.replace("_", " ").split()[-1], lemmas)
    return folder if folder in lemmas and lemmas[folder][1] in _CONCRETE_LEX else None


def clipart_files(root: Path = CLIPART_DIR) -> list[Path]:
    """Clip-art PNGs of :data:`CLIPART_CATEGORIES`, sorted, each once."""
    out = set()
    for cat in CLIPART_CATEGORIES:
        d = root / cat
        if not d.is_dir():
            continue
        it = d.rglob("*.png") if cat not in ("transportation",) else d.glob("*.png")
        for p in it:
            rel = p.relative_to(root).as_posix()
            if not any(rel.startswith(s + "/") for s in CLIPART_SKIP):
                out.add(p)
    return sorted(out)


def _h(s: str) -> int:
    return int.from_bytes(hashlib.sha256(s.encode()).digest()[:8], "big")


def is_heldout(name: str) -> bool:
    return _h("heldout:" + name) % 100 < HELDOUT_PERCENT


# ----------------------------------------------------------------------------- the build

@dataclass
class OpenData:
    concepts: list                  # [Concept]; fashion-mnist classes first (indices 0-9, label order)
    pictures: Pictures
    info: dict

    def names(self) -> list[str]:
        return [c.name for c in self.concepts]

    def seen(self) -> list[int]:
        return [i for i, c in enumerate(self.concepts) if not c.heldout]

    def heldout(self) -> list[int]:
        return [i for i, c in enumerate(self.concepts) if c.heldout]

    def split(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(rgba ``[n, 32, 32, 4]`` uint8, concept ``[n]`` int64) of the pictograms of ``split``."""
        m = np.array([s == split for s in self.pictures.split], dtype=bool)
        return self.pictures.rgba[m], self.pictures.concept[m].astype(np.int64)

    def heldout_phrases(self) -> list[str]:
        return [c.name for c in self.concepts if c.heldout]


def _caption_ok(c: str, reserved: PhraseFilter) -> bool:
    return bool(c) and not reserved(c)


def build(limit: Optional[int] = None, log=None) -> OpenData:
    """Build the set from the installed packages (deterministic; :func:`load` caches it). ``limit`` keeps the first
    ``limit`` emoji and clip-art files each (smoke). Raises ``FileNotFoundError`` naming a missing package's file."""
    for p, pkg in ((EMOJI_FONT, "fonts-noto-color-emoji"), (CLDR_ANNOTATIONS, "unicode-cldr-core"),
                   (CLIPART_DIR, "openclipart-png")):
        if not p.exists():
            raise FileNotFoundError(f"{p}: missing (Debian package {pkg}; scripts/deps.sh installs it)")
    from .preprocess import decode_file, ImageDecodeError
    reserved = PhraseFilter(reserved_phrases())
    lemmas = wordnet_lemmas()
    concepts: list[Concept] = [Concept(n, "fashion-mnist", "clothing") for n in data.CLASSES]
    index: dict[str, int] = {}
    rgba, concept, origin = [], [], []
    dropped = {"emoji_reserved": 0, "clipart_unreadable": 0, "clipart_reserved": 0, "duplicate_pixels": 0,
               "clipart_unnamed": 0, "invisible_on_black": 0, "heldout_named_by_seen": 0}
    seen_pixels: set = set()

    def concept_id(name: str, source: str, category: str, captions: list) -> int:
        key = name
        if key in index:
            c = concepts[index[key]]
            for cap in captions:
                if cap not in c.captions:
                    c.captions.append(cap)
            return index[key]
        index[key] = len(concepts)
        concepts.append(Concept(name, source, category, list(captions)))
        return index[key]

    def add(pic: np.ndarray, cid: int, org: str) -> None:
        if not visible_on_black(pic):
            dropped["invisible_on_black"] += 1
            return
        digest = hashlib.sha256(pic.tobytes()).digest()
        if digest in seen_pixels:
            dropped["duplicate_pixels"] += 1
            return
        seen_pixels.add(digest)
        rgba.append(pic)
        concept.append(cid)
        origin.append(org)

    emo = emoji_pictures()
    if limit is not None:
        emo = emo[:limit]
    for cp, name, kws, img in emo:
        name = normalise_name(name)
        if not name or reserved(name):
            dropped["emoji_reserved"] += 1
            continue
        kws = [normalise_name(k) for k in kws]
        kws = [k for k in kws if k and k != name and not reserved(k)]
        caps = []
        if kws:
            caps.append(f"an emoji of {name}: {', '.join(kws[:5])}.")
        add(to_rgba32(img), concept_id(name, "emoji", "emoji", caps), cp)
    files = clipart_files()
    if limit is not None:
        files = files[:limit]
    for p in files:
        name = clipart_concept(p, lemmas)
        if name is None:
            dropped["clipart_unnamed"] += 1
            continue
        if reserved(name):
            dropped["clipart_reserved"] += 1
            continue
        cat = p.parent.relative_to(CLIPART_DIR).as_posix()
        caps = [f"a clip art picture of a {name}, {cat.replace('/', ', ').replace('_', ' ')}."]
        gloss = lemmas.get(name, ("", ""))[0]
        if gloss and not reserved(gloss):
            caps.append(f"a drawing of a {name}, {gloss}.")
        try:
            img = decode_file(p)
        except (ImageDecodeError, OSError, ValueError):
            dropped["clipart_unreadable"] += 1
            continue
        add(to_rgba32(img), concept_id(name, "clipart", cat, caps), p.relative_to(CLIPART_DIR).as_posix())
    # concepts whose every picture was dropped go; ids are renumbered in order
    used = np.bincount(np.array(concept, dtype=np.int64), minlength=len(concepts)) > 0
    used[:10] = True
    new_id = np.cumsum(used) - 1
    concepts = [c for c, u in zip(concepts, used) if u]
    concept = [int(new_id[c]) for c in concept]
    for c in concepts[10:]:
        c.heldout = is_heldout(c.name)
        c.captions = [x for x in c.captions if _caption_ok(x, reserved)]
    # a concept stays held out only if no seen name mentions it (its words would be trained otherwise)
    changed = True
    while changed:
        changed = False
        seen_names = [c.name for c in concepts if not c.heldout]
        for c in concepts[10:]:
            if not c.heldout:
                continue
            f = PhraseFilter([c.name])
            if f.rx is not None and any(f(n) for n in seen_names):
                c.heldout = False
                dropped["heldout_named_by_seen"] += 1
                changed = True
    # held-out names must not appear in any seen concept's captions either
    held = PhraseFilter([c.name for c in concepts if c.heldout])
    for c in concepts:
        if not c.heldout:
            c.captions = [x for x in c.captions if not held(x)]
    concept_arr = np.array(concept, dtype=np.int64)
    counts = np.bincount(concept_arr, minlength=len(concepts))
    split = []
    for cid, org in zip(concept, origin):
        c = concepts[cid]
        if c.heldout:
            split.append("heldout")
        elif counts[cid] >= 3 and _h("image:" + org) % 100 < 15:
            split.append("val" if _h("vt:" + org) % 2 else "test")
        else:
            split.append("train")
    pics = Pictures(np.stack(rgba) if rgba else np.zeros((0, 32, 32, 4), np.uint8), concept_arr, split, origin)
    info = {"version": VERSION, "dropped": dropped, "limit": limit,
            "packages": {p: _pkg_version(p) for p in ("fonts-noto-color-emoji", "unicode-cldr-core",
                                                      "openclipart-png", "wordnet-base", "dataset-fashion-mnist")}}
    od = OpenData(concepts, pics, info)
    check_reserved(od)
    if log:
        log(f"open data: {len(concepts)} concepts ({len(od.heldout())} held out), {len(origin)} pictures")
    return od


def check_reserved(od: OpenData) -> None:
    """Raise ``AssertionError`` if a training caption or seen name contains a Fashion-MNIST synonym or a held-out
    concept's name (the promises of the module docstring)."""
    reserved = PhraseFilter(reserved_phrases())
    held = PhraseFilter(od.heldout_phrases())
    for c in od.concepts:
        if c.heldout:
            continue
        for t in [c.name] + c.captions:
            if reserved(t) and c.source != "fashion-mnist":
                raise AssertionError(f"caption {t!r} of {c.name!r} names a Fashion-MNIST synonym")
            if held(t) and c.source == "fashion-mnist" and t == c.name:
                continue
            if held(t) and t != c.name:
                raise AssertionError(f"caption {t!r} of {c.name!r} names a held-out concept")


def _pkg_version(pkg: str) -> str:
    try:
        import subprocess
        return subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True,
                              timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def cache_path(cache_dir: Path, limit: Optional[int]) -> Path:
    key = {"version": VERSION, "limit": limit,
           "files": [str(p.stat().st_size) + ":" + str(int(p.stat().st_mtime)) if p.exists() else "absent"
                     for p in (EMOJI_FONT, CLDR_ANNOTATIONS)],
           "clipart": CLIPART_CATEGORIES, "skip": CLIPART_SKIP, "heldout": HELDOUT_PERCENT,
           "syn": FMNIST_SYNONYMS}
    h = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"opendata-{h}.npz"


def load(cache_dir: Path, limit: Optional[int] = None, log=None) -> OpenData:
    """:func:`build`, cached in ``cache_dir`` (a hit skips decoding; the file is rebuilt if unreadable)."""
    path = cache_path(cache_dir, limit)
    if path.exists():
        try:
            z = np.load(path, allow_pickle=False)
            meta = json.loads(str(z["meta"]))
            concepts = [Concept(**c) for c in meta["concepts"]]
            pics = Pictures(z["rgba"], z["concept"], list(meta["split"]), list(meta["origin"]))
            return OpenData(concepts, pics, meta["info"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    od = build(limit, log=log)
    meta = {"concepts": [c.__dict__ for c in od.concepts], "split": od.pictures.split,
            "origin": od.pictures.origin, "info": od.info}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, rgba=od.pictures.rgba, concept=od.pictures.concept, meta=np.array(json.dumps(meta)))
    os.replace(tmp, path)
    return od


MANIFEST_FORMAT = "spikeclip-open-sets"


def manifest(od: OpenData) -> dict:
    """The evaluation sets as references into the installed packages (no pixels): ``heldout`` (pictures of the
    held-out concepts; classes = the held-out names) and ``seen-test`` (held-out pictures of seen concepts; classes
    = every seen name). A picture is ``U+XXXX`` (the emoji font's bitmap of that code point) or a path under
    :data:`CLIPART_DIR`; the Swift engine rebuilds each view with the same geometry (:func:`to_rgba32`,
    :func:`on_black`) at run time (``spikeclip eval --dataset open-heldout``)."""
    sets = {}
    for key, split, ids in (("heldout", "heldout", od.heldout()), ("seen-test", "test", od.seen())):
        pos = {c: k for k, c in enumerate(ids)}
        pics = [{"picture": o, "label": pos[int(c)]}
                for o, c, s in zip(od.pictures.origin, od.pictures.concept, od.pictures.split) if s == split]
        sets[key] = {"classes": [od.concepts[i].name for i in ids], "pictures": pics}
    return {"format": MANIFEST_FORMAT, "version": VERSION, "generator": "python -m spikeclip_training.opendata "
            "--manifest assets/open-vocabulary/sets.json", "emoji_font": str(EMOJI_FONT), "clipart_dir": str(CLIPART_DIR),
            "packages": od.info["packages"], "image_size": IMAGE_SIZE, "content_size": CONTENT_SIZE, "sets": sets}


def manifest_bytes(od: OpenData) -> bytes:
    return (json.dumps(manifest(od), indent=1, ensure_ascii=False, sort_keys=True) + "\n").encode()


def write_view_fixture(od: OpenData, out: Path, per_source: int = 4) -> list[str]:
    """``out/<k>.png`` (8-bit RGB, the canonical view) and ``out/pictures.json`` for the first ``per_source`` held-out
    emoji and clip-art pictures of the manifest: the Swift engine's rebuild from the packages must give these bytes
    (Tests/SpikeCLIPTests/OpenVocabularySetTests.swift)."""
    from .image_fixtures import png_bytes
    from .st_io import write_atomic
    chosen: list[tuple[str, np.ndarray]] = []
    for emoji in (True, False):
        k = 0
        for o, rgba, s in zip(od.pictures.origin, od.pictures.rgba, od.pictures.split):
            if s == "heldout" and o.startswith("U+") == emoji and k < per_source:
                chosen.append((o, on_black(rgba)))
                k += 1
    out = Path(out)
    for i, (_, rgb) in enumerate(chosen):
        write_atomic(out / f"{i}.png", png_bytes(rgb.astype(np.int64), 2, 8), overwrite=True)
    write_atomic(out / "pictures.json", (json.dumps({"generator": "python -m spikeclip_training.opendata "
                                                                  "--view-fixture Tests/Fixtures/open-views",
                                                     "pictures": [o for o, _ in chosen]}, indent=1) + "\n").encode(),
                 overwrite=True)
    return [o for o, _ in chosen]


LICENCES = {
    "emoji": "Noto Color Emoji, Debian `fonts-noto-color-emoji` (SIL Open Font License 1.1); names and keywords: "
             "Unicode CLDR, Debian `unicode-cldr-core` (Unicode License v3)",
    "clipart": "Openclipart, Debian `openclipart-png` (public domain / CC0 1.0)",
    "fashion-mnist": "Fashion-MNIST, Debian `dataset-fashion-mnist` (MIT, Zalando Research)",
    "wordnet": "WordNet 3.0, Debian `wordnet-base` (WordNet 3.0 licence, Princeton University)",
}


def card(od: OpenData) -> str:
    """The data card (markdown): counts per source and split, clip-art counts per top folder, caption examples,
    what was left out and why, licences. ``python -m spikeclip_training.opendata --card`` prints it."""
    import collections
    L = ["| source | concepts seen | concepts held out | pictures train | val | test | held out |",
         "|---|---|---|---|---|---|---|"]
    by = collections.Counter((od.concepts[int(c)].source, s) for c, s in zip(od.pictures.concept, od.pictures.split))
    for src in ("emoji", "clipart"):
        seen = sum(1 for c in od.concepts if c.source == src and not c.heldout)
        held = sum(1 for c in od.concepts if c.source == src and c.heldout)
        L.append(f"| {src} | {seen} | {held} | {by[(src, 'train')]} | {by[(src, 'val')]} | {by[(src, 'test')]} | "
                 f"{by[(src, 'heldout')]} |")
    L.append("| fashion-mnist | 10 | 0 | 55 000 | 5 000 | 10 000 | 0 |")
    L += ["", "Clip art per top-level folder (pictures kept, all splits):", ""]
    top = collections.Counter(o.split("/")[0] for o, c in zip(od.pictures.origin, od.pictures.concept)
                              if od.concepts[int(c)].source == "clipart")
    L.append(", ".join(f"{k} {v}" for k, v in sorted(top.items(), key=lambda kv: -kv[1])))
    L += ["", "Left out while building: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in od.info["dropped"].items()),
          "", "Caption examples (a concept's name fills the 8 training templates; these extra captions join its "
          "class embedding and the text corpus):", ""]
    shown = 0
    for c in od.concepts[10:]:
        if c.captions and not c.heldout and shown < 6 and (shown < 3) == (c.source == "emoji"):
            L.append(f"- {c.source} `{c.name}`: " + " / ".join(f"\"{x}\"" for x in c.captions[:2]))
            shown += 1
    L += ["", "Licences:", ""] + [f"- {k}: {v}" for k, v in LICENCES.items()]
    return "\n".join(L) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m spikeclip_training.opendata [--limit N]``: build and print the data card's counts as JSON."""
    import argparse
    import collections
    ap = argparse.ArgumentParser(prog="python -m spikeclip_training.opendata")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--card", action="store_true", help="print the data card (markdown) instead of JSON counts")
    ap.add_argument("--manifest", type=Path, help="write the evaluation sets' manifest (JSON) here")
    ap.add_argument("--view-fixture", type=Path, help="write the Swift geometry fixture (PNGs + pictures.json) here")
    ap.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "spikeclip" / "opendata")
    args = ap.parse_args(argv)
    od = load(args.cache_dir, args.limit, log=print)
    if args.card:
        print(card(od), end="")
        return 0
    if args.view_fixture:
        print(f"wrote {len(write_view_fixture(od, args.view_fixture))} views to {args.view_fixture}")
        return 0
    if args.manifest:
        from .st_io import write_atomic
        write_atomic(args.manifest, manifest_bytes(od), overwrite=True)
        print(f"wrote {args.manifest}", file=__import__("sys").stderr)
        return 0
    by = collections.Counter()
    for cid, s in zip(od.pictures.concept, od.pictures.split):
        by[(od.concepts[cid].source, s)] += 1
    counts = {"concepts": collections.Counter(c.source + (" held out" if c.heldout else "") for c in od.concepts),
            "pictures": {f"{a} {b}": n for (a, b), n in sorted(by.items())}, "info": od.info}
    print(json.dumps(counts, indent=1, default=dict))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
