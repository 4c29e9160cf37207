"""convert_official: official-format files in, our checkpoint out, exactly; hostile and malformed input refused in
one line (issue 14)."""

import os
import pickle
import subprocess
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from spikeclip_training import convert_official as co
from spikeclip_training import official_fixtures as of
from spikeclip_training.export import load_checkpoint, read_checkpoint_config
from spikeclip_training.lif import LIF
from spikeclip_training.model import lif_layers
from spikeclip_training.official_io import OfficialFileError

from conftest import FIXTURES_DIR, REPO

FIXTURE = FIXTURES_DIR / "official-import"


def _fixture_tensors() -> dict:
    return load_file(str(FIXTURE / "model.safetensors"))


def _lists(tmp_path, cfg):
    classes, templates = tmp_path / "classes.txt", tmp_path / "templates.txt"
    classes.write_text("\n".join(cfg.classes) + "\n", encoding="utf-8")
    templates.write_text("\n".join(cfg.templates) + "\n", encoding="utf-8")
    return classes, templates


@pytest.mark.parametrize("variant", of.VARIANTS)
def test_every_official_layout_converts_back_to_the_fixture_exactly(tmp_path, variant):
    model, cfg = load_checkpoint(FIXTURE / "model.safetensors")
    vision, text = of.write_official(model, tmp_path / "official", variant)
    classes, templates = _lists(tmp_path, cfg)
    out = tmp_path / "converted.safetensors"
    assert co.main(["--vision", str(vision), "--text", str(text), "--out", str(out),
                    "--classes", str(classes), "--templates", str(templates)]) == 0
    got, want = load_file(str(out)), _fixture_tensors()
    assert sorted(got) == sorted(want)
    for k in want:
        assert torch.equal(got[k], want[k]), k
    converted = read_checkpoint_config(out)
    a, b = converted.to_dict(), cfg.to_dict()
    assert a.pop("provenance")["kind"] == "official-import"
    b.pop("provenance")
    assert a.pop("ann_text") is None and b.pop("ann_text")["file"] == "clip/official-ann"   # converted without --clip
    assert a == b
    if variant == "timm-ddp-args":
        assert converted.provenance["num_heads_source"] == "the file's saved args"
        assert converted.provenance["vision_args"]["num_heads"] == 8


def _reference(model, golden):
    """Spikes of every layer and the embeddings of the golden inputs, in float64 from the stored weights."""
    model = model.double()
    layers = lif_layers(model)
    for lif in layers.values():
        lif.record_spikes = True
    with torch.no_grad():
        out = model(golden["input.pixel_values"].double(), golden["input.token_ids"].long(), num_templates=2)
    spikes = {name: lif.recorded_spikes.clone() for name, lif in layers.items()}
    for lif in layers.values():
        lif.record_spikes = False
        lif.clear_records()
    return out, spikes


def test_converted_file_reproduces_the_reference_outputs(tmp_path):
    """Parity bar of the golden fixtures: embeddings rel-L2 <= 1e-4, spikes identical."""
    source, cfg = load_checkpoint(FIXTURE / "model.safetensors")
    vision, text = of.write_official(source, tmp_path / "official", "timm-ddp-args")
    out = tmp_path / "converted.safetensors"
    assert co.main(["--vision", str(vision), "--text", str(text), "--out", str(out)]) == 0
    golden = load_file(str(FIXTURE / "golden.safetensors"))
    converted, _ = load_checkpoint(out)
    result, spikes = _reference(converted, golden)
    for key in ("vision", "text"):
        ref = golden[f"output.{key}"].double()
        rel = float((result[key] - ref).norm() / ref.norm())
        assert rel <= 1e-4, (key, rel)
    for name, s in spikes.items():
        assert torch.equal(s.to(torch.uint8), golden[f"spikes.{name}"]), name


def test_official_size_random_files_convert_with_a_clip_folder(tmp_path):
    """The official sizes (D 384, 8 heads, depth 4, T 4, E 512, L 20, hidden 2048, V 49408) and a CLIP folder whose
    vocabulary and projection fit: the ANN side and the CLIP processor settings are recorded."""
    cfg = of.official_size_config()
    model = of.random_model(cfg, seed=1)
    vision, text = of.write_official(model, tmp_path, "timm")
    spec = dict(of.CLIP_DEMO_SPEC, vision=dict(of.CLIP_DEMO_SPEC["vision"], hidden_size=32, intermediate_size=64,
                                                num_hidden_layers=1, num_attention_heads=2),
                text=dict(of.CLIP_DEMO_SPEC["text"], hidden_size=32, intermediate_size=64, num_hidden_layers=1))
    clip = of.write_clip_folder(tmp_path / "clip", spec=spec)
    out = tmp_path / "spikeclip.safetensors"
    c, tensors, notes = co.convert(vision, text, out, clip)
    assert (c.vision.embed_dims, c.vision.num_heads, c.vision.depths, c.T, c.vision.target_dim) == (384, 8, 4, 4, 512)
    assert (c.text.context_length, c.text.embed_dim, c.text.hidden_dim, c.text.embedding.vocab_size) == (20, 512, 2048, 49408)
    assert c.ann_vision is None and c.ann_text.file == "clip" and c.ann_text.sha256 == co.sha256_file(clip / "model.safetensors")
    assert (c.tokenizer.kind, c.tokenizer.vocab_file, c.tokenizer.pad_id, c.tokenizer.cls_id) == ("clip-bpe", "clip", 49407, 49406)
    assert (c.preprocess.kind, c.preprocess.clip_crop_size, c.preprocess.image_size) == ("clip-then-resize", 224, [32, 32])
    assert notes[0].startswith("num_heads 8 from the official scripts' default")
    for k, v in model.state_dict().items():
        name = k if k.startswith(("vision.", "text.")) else None
        if name and not k.endswith("num_batches_tracked"):
            assert torch.equal(tensors[k], v), k
    # Spikes fire in every layer of the random official-size model (calibrated), so the explorer has something to show.
    layers = lif_layers(model)
    for lif in layers.values():
        lif.record_spikes = True
    with torch.no_grad():
        model.vision(torch.randn(1, 3, 32, 32))
    rates = {n: float(l.recorded_spikes.float().mean()) for n, l in layers.items() if l.recorded_spikes is not None}
    assert rates and all(0.005 < r < 0.9 for r in rates.values()), rates


def test_without_clip_the_vocabulary_must_be_clips(tmp_path):
    model, _ = load_checkpoint(FIXTURE / "model.safetensors")
    vision, text = of.write_official(model, tmp_path, "bare")
    c, _, notes = co.convert(vision, text, tmp_path / "x.safetensors")
    assert c.ann_text is None and c.tokenizer.vocab_file == co.ASSET_VOCAB
    assert c.tokenizer.vocab_sha256 == co.sha256_file(REPO / "assets" / co.ASSET_VOCAB)
    assert any("no ANN side" in n for n in notes)


# ----------------------------------------------------------------------------- hostile and malformed input

MARKER = Path("/tmp/spikeclip-convert-hostile-ran")


class _System:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


class _Exec:
    def __reduce__(self):
        return (exec, (f"open({str(MARKER)!r}, 'w').write('ran')",))


@pytest.mark.parametrize("payload", [_System, _Exec])
def test_hostile_pickle_is_refused_and_runs_nothing(tmp_path, payload, capsys):
    MARKER.unlink(missing_ok=True)
    model, _ = load_checkpoint(FIXTURE / "model.safetensors")
    vision, text = of.write_official(model, tmp_path, "timm")
    ckpt = torch.load(vision, weights_only=False)
    ckpt["hook"] = payload()
    torch.save(ckpt, vision)
    rc = co.main(["--vision", str(vision), "--text", str(text), "--out", str(tmp_path / "out.safetensors")])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error: ") and err.count("\n") == 1, err
    assert "refused" in err and str(vision) in err
    assert not MARKER.exists(), "the pickle ran code"
    assert not (tmp_path / "out.safetensors").exists()


def _official(tmp_path):
    model, _ = load_checkpoint(FIXTURE / "model.safetensors")
    return of.write_official(model, tmp_path / "official", "timm")


def _tamper(path: Path, edit):
    ckpt = torch.load(path, weights_only=False)
    edit(ckpt["state_dict"])
    torch.save(ckpt, path)


BAD_EDITS = {
    "fc1 width does not fit L*E": ("text", lambda sd: sd.__setitem__("fc1.weight", torch.zeros(64, 81))),
    "proj target differs from text": ("vision", lambda sd: sd.__setitem__("proj.weight", torch.zeros(16, 64))),
    "a tensor of the wrong rank": ("vision", lambda sd: sd.__setitem__("block.0.attn.q_conv.weight", torch.zeros(64, 64))),
    "an unknown key": ("vision", lambda sd: sd.__setitem__("head.weight", torch.zeros(10, 64))),
    "a missing key": ("vision", lambda sd: sd.pop("block.1.mlp.mlp2_bn.running_var")),
    "integer weights": ("vision", lambda sd: sd.__setitem__("proj.bias", torch.zeros(32, dtype=torch.int64))),
    "a string instead of a tensor": ("text", lambda sd: sd.__setitem__("fc2.bias", "zeros")),
    "NaN weights": ("text", lambda sd: sd.__setitem__("fc2.bias", torch.full((32,), float("nan")))),
    "T differs between the files": ("text", lambda sd: sd.__setitem__("weights_tensor", torch.zeros(1, 3, 1))),
    "BERT embeddings": ("text", lambda sd: sd.__setitem__("clip_embedding.word_embeddings.weight", torch.zeros(5, 4))),
    "a vocabulary that is not CLIP's": ("text", lambda sd: sd.__setitem__("clip_embedding.token_embedding.weight", torch.zeros(100, 4))),
    "a huge declared size": ("vision", lambda sd: sd.__setitem__("weights_tensor", torch.zeros(1, 1, 1).expand(1, 1 << 21, 1))),
}


@pytest.mark.parametrize("case", sorted(BAD_EDITS))
def test_files_that_do_not_fit_end_in_one_line(tmp_path, case, capsys):
    vision, text = _official(tmp_path)
    which, edit = BAD_EDITS[case]
    _tamper(vision if which == "vision" else text, edit)
    out = tmp_path / "out.safetensors"
    rc = co.main(["--vision", str(vision), "--text", str(text), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error: ") and err.count("\n") == 1, (case, err)
    assert str(vision if which == "vision" else text) in err or "T = " in err, (case, err)
    assert not out.exists()


def test_truncated_and_garbage_files_end_in_one_line(tmp_path, capsys):
    vision, text = _official(tmp_path)
    data = vision.read_bytes()
    cuts = sorted({1, 8, 64, 512, len(data) // 3, len(data) // 2, len(data) - 100, len(data) - 1})
    for cut in cuts:
        bad = tmp_path / f"cut{cut}.pth.tar"
        bad.write_bytes(data[:cut])
        rc = co.main(["--vision", str(bad), "--text", str(text), "--out", str(tmp_path / "o.safetensors")])
        err = capsys.readouterr().err
        assert rc == 1 and err.startswith("error: ") and err.count("\n") == 1, (cut, err)
    # A safetensors header that declares a tensor far larger than the file.
    huge = tmp_path / "huge.safetensors"
    save_file({"weights_tensor": torch.zeros(1, 4, 1)}, str(huge))
    raw = bytearray(huge.read_bytes())
    raw = raw.replace(b"[1,4,1]", b"[1,4,9]", 1)
    huge.write_bytes(bytes(raw))
    # Regressions (fresh-user trial): what each one is, said plainly (a PNG was "asking to run code").
    png = tmp_path / "image.png"
    png.write_bytes((REPO / "assets" / "images" / "bag_0018.png").read_bytes())
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    cut = tmp_path / "cut.pth.tar"
    cut.write_bytes(data[: len(data) // 2])
    for path, says in ((png, "not a PyTorch checkpoint"), (empty, "empty or truncated"), (cut, "truncated or damaged"),
                       (tmp_path, "is a folder")):
        rc = co.main(["--vision", str(path), "--text", str(text), "--out", str(tmp_path / "o.safetensors")])
        err = capsys.readouterr().err
        assert rc == 1 and says in err and "run code" not in err, (path, err)
    for path in (huge, tmp_path / "missing.pth", tmp_path):
        rc = co.main(["--vision", str(path), "--text", str(text), "--out", str(tmp_path / "o.safetensors")])
        err = capsys.readouterr().err
        assert rc == 1 and err.startswith("error: ") and err.count("\n") == 1, (path, err)
    assert not (tmp_path / "o.safetensors").exists()


def test_random_byte_flips_end_in_one_line_or_a_valid_file(tmp_path, capsys):
    """Property: flipping bytes of a valid file never crashes the importer; it converts or says why in one line."""
    import random
    vision, text = _official(tmp_path)
    data = bytearray(text.read_bytes())
    rng = random.Random(0)
    outcomes = {0: 0, 1: 0}
    for i in range(40):
        bad = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            # The pickle and the zip directory (first and last 4 KiB); flips inside tensor data are valid files.
            pos = rng.randrange(4096) if rng.random() < 0.5 else len(bad) - 1 - rng.randrange(4096)
            bad[pos] = rng.randrange(256)
        path = tmp_path / f"flip{i}.pth.tar"
        path.write_bytes(bytes(bad))
        rc = co.main(["--vision", str(vision), "--text", str(path), "--out", str(tmp_path / f"o{i}.safetensors")])
        err = capsys.readouterr().err
        assert rc in (0, 1), rc
        if rc == 1:
            assert err.startswith("error: ") and err.count("\n") == 1, err
        outcomes[rc] += 1
    assert outcomes[1] > 0


def test_lists_and_cli_errors(tmp_path):
    vision, text = _official(tmp_path)
    bad = tmp_path / "classes.txt"
    bad.write_text("cat\ndog\x1b[31m\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "spikeclip_training.convert_official", "--vision", str(vision),
                        "--text", str(text), "--out", str(tmp_path / "o.safetensors"), "--classes", str(bad)],
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "training")})
    assert r.returncode == 1 and r.stderr == f"error: --classes {bad}:2: holds a control character\n", r.stderr
    templates = tmp_path / "templates.txt"
    templates.write_text("a photo of a {}.\nno placeholder\n", encoding="utf-8")
    assert co.main(["--vision", str(vision), "--text", str(text), "--out", str(tmp_path / "t.safetensors"),
                    "--templates", str(templates)]) == 1
    r = subprocess.run([sys.executable, "-m", "spikeclip_training.convert_official", "--vision", str(vision),
                        "--text", str(text), "--out", str(tmp_path / "o.safetensors")],
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "training")})
    assert r.returncode == 0, r.stderr
    assert "D 64, 8 heads, depth 2" in r.stdout and "ANN side: none" in r.stdout
    assert "num_heads 8 from the official scripts' default" in r.stderr
