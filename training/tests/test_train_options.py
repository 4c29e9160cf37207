"""Training options that change how the model is built (issue 16)."""
import dataclasses
from pathlib import Path

import torch

from spikeclip_training.configs import CONFIGS
from spikeclip_training.train import Run, build_model

REPO = Path(__file__).resolve().parents[2]


def test_embedding_norm_gain_scales_the_frozen_layernorm_and_can_train_it(tmp_path):
    base = build_model(Run(CONFIGS["smoke"], 0, tmp_path / "a", tmp_path / "cache", REPO / "assets", []))
    cfg = dataclasses.replace(CONFIGS["smoke"], embedding_norm_gain=3.0, train_embedding_norm=True)
    model = build_model(Run(cfg, 0, tmp_path / "b", tmp_path / "cache", REPO / "assets", []))
    a, b = base.text.clip_embedding.LayerNorm, model.text.clip_embedding.LayerNorm
    assert torch.allclose(b.weight, 3 * a.weight) and torch.allclose(b.bias, 3 * a.bias)
    assert not a.weight.requires_grad and b.weight.requires_grad and b.bias.requires_grad
    # the word embeddings stay frozen and equal either way
    we_a, we_b = base.text.clip_embedding.word_embeddings.weight, model.text.clip_embedding.word_embeddings.weight
    assert torch.equal(we_a, we_b) and not we_b.requires_grad


def test_overrides_from_reconstructs_the_set_arguments_of_a_run():
    # Regression: the RESULTS report printed the run's command without its --set overrides.
    from spikeclip_training.configs import CONFIGS, TrainConfig
    base = CONFIGS["open"]
    sets = ["embedding_norm_gain=3.0", "train_embedding_norm=true", "text_align.epochs=7"]
    cfg = base.with_overrides(sets)
    got = TrainConfig.from_dict(cfg.to_dict()).overrides_from(base)
    assert sorted(got) == sorted(sets)  # in field order
    assert base.with_overrides(got) == cfg
    assert base.overrides_from(base) == []


def test_corpus_templates_per_noun_puts_each_noun_in_distinct_templates():
    from spikeclip_training import text
    tl = text.TRAIN_TEMPLATES
    one = text.build_corpus(40, 0, tl, seed=0)
    # per_noun=1 is the corpus every earlier run trained on (same draws, same order): cached MiniLM targets stay valid
    assert one == text.build_corpus(40, 0, tl, seed=0, per_noun=1)
    two = text.build_corpus(40, 0, tl, seed=0, per_noun=2)
    assert len(two) == 40 and len(set(two)) == 40

    def noun(s):
        for t in tl:
            pre, post = t.split("{}")
            if s.startswith(pre) and s.endswith(post):
                return s[len(pre):len(s) - len(post)], t
        raise AssertionError(s)
    pairs = [noun(s) for s in two]
    nouns = [n for n, _ in pairs]
    # each noun twice, in two different templates, and the nouns in the order of the one-template corpus
    assert all(nouns.count(n) == 2 for n in nouns)
    assert all(len({t for m, t in pairs if m == n}) == 2 for n in nouns)
    assert list(dict.fromkeys(nouns)) == [noun(s)[0] for s in one][:20]


def test_signed_text_input_feeds_both_signs_and_round_trips(tmp_path):
    from spikeclip_training.config import SpikeCLIPConfig
    cfg = dataclasses.replace(CONFIGS["smoke"], text_signed_input=True)
    run = Run(cfg, 0, tmp_path / "s", tmp_path / "cache", REPO / "assets", [])
    model = build_model(run)
    enc = model.text
    L, E = enc.context_length, model.config.text.embed_dim
    assert enc.signed and enc.fc1.in_features == 2 * L * E
    ids = torch.randint(0, 100, (3, L))
    # the input LIF layer sees [e, -e] per position: record it and compare with the embedding
    enc.mlp_lif1.record_spikes = True
    with torch.no_grad():
        enc(ids)
        e = enc.clip_embedding(ids)
    spikes = enc.mlp_lif1.recorded_spikes                 # [T, P, L*2E]
    enc.mlp_lif1.record_spikes = False
    assert spikes.shape[-1] == 2 * L * E
    s = spikes.reshape(spikes.shape[0], 3, L, 2 * E)
    # the first step fires where the input is at least 2 (tau 2, threshold 1): e for the first half, -e for the second
    assert torch.equal(s[0, :, :, :E] > 0, e >= 2) and torch.equal(s[0, :, :, E:] > 0, -e >= 2)
    assert (s[..., E:] > 0).any(), "no negative value ever fired: the test would not see the second half"
    d = model.config.to_dict()
    assert d["text"]["embedding"]["signed"] is True
    assert SpikeCLIPConfig.from_dict(d).text.embedding.signed is True
    # the official layout writes no key at all (existing checkpoints and fixtures unchanged)
    plain = build_model(Run(CONFIGS["smoke"], 0, tmp_path / "p", tmp_path / "cache", REPO / "assets", []))
    assert "signed" not in plain.config.to_dict()["text"]["embedding"] and not plain.text.signed


def test_fmnist_wordnet_captions_keep_out_reserved_synonyms_and_other_garments():
    from spikeclip_training import data, opendata
    caps = opendata.fmnist_wordnet_captions(heldout=["canvas"])
    assert len(caps) == 10
    reserved = opendata.PhraseFilter(opendata.reserved_phrases())
    for c, lst in zip(data.CLASSES, caps):
        for x in lst:
            assert not reserved(x), x
            assert not opendata.mentions(x, ["canvas"]), x         # a held-out name drops the caption
            others = [o for o in ("shirt", "trouser", "pullover", "dress", "coat", "sandal", "sneaker", "bag",
                                  "boot") if o not in c.lower()]
            assert not opendata.mentions(x, others), (c, x)
    # WordNet's clothing sense, not the mast platform or the spinning top; "(usually in the plural)" stripped
    assert "a top, a garment (especially for women) that extends from the shoulders to the waist or hips." in caps[0]
    assert not any("mast" in x or "plaything" in x for x in caps[0])
    assert caps[1][0].startswith("a trouser, a garment extending from the waist")
    # the sneaker's canvas gloss is gone with "canvas" held out; the hypernym caption stays
    assert caps[7] == ["a gym shoe, a kind of shoe."]
    # the pullover's sense is "a sweater ..." (reserved): no caption survives
    assert caps[2] == []


def _first_step_loss_extra(tmp_path, monkeypatch, stage: str, option: str) -> float:
    """Runs smoke stage ``stage`` from the same seed with ``option`` = 0, 0.5 and 1 and returns how much the first
    step's loss grows at 0.5; asserts the growth is linear in the option."""
    from spikeclip_training import train
    losses = {}

    def first_loss(run, stage, sc, modules, n, step, *a, **k):
        g = run.gen(stage, 0)
        idx = train.batches(run, n, sc.batch_size, g)[0]
        losses[getattr(run.cfg, option)] = float(step(idx, g).detach())
    monkeypatch.setattr(train, "run_epochs", first_loss)
    for w in (0.0, 0.5, 1.0):
        cfg = dataclasses.replace(CONFIGS["smoke"], **{option: w})
        (tmp_path / f"w{w}").mkdir()
        getattr(train, f"stage_{stage}")(Run(cfg, 0, tmp_path / f"w{w}", tmp_path / "cache", REPO / "assets", []))
    extra = losses[0.5] - losses[0.0]
    assert abs((losses[1.0] - losses[0.0]) - 2 * extra) < 1e-5    # linear in the weight
    return extra


def test_teacher_align_weight_adds_the_cosine_to_the_own_class(tmp_path, monkeypatch):
    # two smoke teacher runs from the same seed: with weight 0 the first-step loss is the CE alone; with weight w
    # it is larger by exactly w * mean(1 - cos(image, own class)) of that step
    extra = _first_step_loss_extra(tmp_path, monkeypatch, "teacher", "teacher_align_weight")
    assert 0.5 * 0.05 < extra < 0.5 * 2.0       # 1 - cos lies in [0, 2]; random init is far from every class


def test_finetune_feature_weight_adds_the_cosine_to_the_teacher_image(tmp_path, monkeypatch):
    # the finetune's first-step loss grows by exactly w * mean(1 - cos(student image, teacher image)) of that step
    # (stages before it replaced by the freshly built model: the loss algebra does not need trained weights)
    from spikeclip_training import train
    monkeypatch.setattr(train, "load_stage_state", lambda run, model, stage: {"logit_scale": torch.tensor(10.0)})
    extra = _first_step_loss_extra(tmp_path, monkeypatch, "finetune", "finetune_feature_weight")
    assert 0.5 * 0.05 < extra < 0.5 * 2.0       # two untrained encoders: far from cos 1


def test_a_run_made_before_an_option_existed_resumes(tmp_path):
    # Regression: run.json of an older run lacks options added since; they read as their defaults instead of the
    # rerun being refused as "another config"
    import json
    from spikeclip_training.configs import TrainConfig
    cfg = CONFIGS["smoke"]
    (tmp_path / "r").mkdir()
    Run(cfg, 0, tmp_path / "r", tmp_path / "cache", REPO / "assets", []).check_run_json()
    p = tmp_path / "r" / "run.json"
    d = json.loads(p.read_text())
    del d["config"]["finetune_feature_weight"]
    p.write_text(json.dumps(d))
    Run(cfg, 0, tmp_path / "r", tmp_path / "cache", REPO / "assets", []).check_run_json()    # resumes
    other = dataclasses.replace(cfg, finetune_feature_weight=1.0)
    try:
        Run(other, 0, tmp_path / "r", tmp_path / "cache", REPO / "assets", []).check_run_json()
        raise AssertionError("a different option value must still be refused")
    except SystemExit as e:
        assert "another config" in str(e)
    assert TrainConfig.from_dict(d["config"]) == cfg


def test_text_fc1_tied_shares_one_block_over_positions_and_folds_to_the_official_layout(tmp_path):
    from torch.nn.utils import parametrize
    from spikeclip_training.train import tie_text_fc1, untie_text_fc1
    model = build_model(Run(CONFIGS["smoke"], 0, tmp_path / "a", tmp_path / "cache", REPO / "assets", []))
    fc1, L = model.text.fc1, model.text.context_length
    tie_text_fc1(model)
    shared = fc1.parametrizations.weight[0].shared
    width = shared.shape[1]
    # at the start the weight is the shared block at every position (zero residual), at the usual init scale
    w = fc1.weight.detach()
    assert all(torch.equal(w[:, p * width:(p + 1) * width], shared.detach()) for p in range(L))
    assert 0 < float(shared.detach().abs().max()) <= 1 / fc1.in_features ** 0.5
    # one gradient step moves both parts; the shared block learns from every position at once
    ids = torch.randint(0, 100, (3, L))
    opt = torch.optim.SGD(model.text.parameters(), lr=0.1)
    model.text(ids).pow(2).sum().backward()
    opt.step()
    residual = fc1.parametrizations.weight.original.detach()
    assert residual.abs().max() > 0
    folded = fc1.weight.detach().clone()
    assert torch.equal(folded, residual + shared.detach().repeat(1, L))
    before = model.text(ids).detach()
    untie_text_fc1(model)
    # plain official key and shape, same function
    assert not parametrize.is_parametrized(fc1)
    assert "fc1.weight" in model.text.state_dict() and fc1.weight.shape == folded.shape
    assert torch.equal(fc1.weight.detach(), folded) and torch.equal(model.text(ids).detach(), before)
    untie_text_fc1(model)  # a second call is a no-op


def test_corpus_frames_are_neither_training_nor_held_out_templates_and_keep_held_out_concepts_out(tmp_path):
    import re
    from spikeclip_training import text
    from spikeclip_training.train import frame_corpus
    frames = text.CORPUS_FRAMES
    assert len(set(frames)) == len(frames) and all(f.count("{}") == 1 for f in frames)
    assert not set(frames) & set(text.TRAIN_TEMPLATES + text.HELDOUT_TEMPLATES)
    # no frame borrows a held-out template's distinctive wording (the unseen-template evaluation stays unseen)
    for f in frames:
        for word in ("close-up", "this is", "thumbnail", "in this picture", "catalogue", "snapshot", "pixelated",
                     "someone's", "my "):
            assert word not in f, (f, word)
    cfg = dataclasses.replace(CONFIGS["open-smoke"], corpus_frame_prompts=300)
    for d in "abc":
        (tmp_path / d).mkdir()
    run = Run(cfg, 0, tmp_path / "a", tmp_path / "cache", REPO / "assets", [])
    got = frame_corpus(run)
    assert 0 < len(got) <= 300 and len(set(got)) == len(got)
    pattern = re.compile("^(" + "|".join(re.escape(f).replace(r"\{\}", ".+") for f in frames) + ")$")
    assert all(pattern.match(s) for s in got)
    held = __import__("spikeclip_training.opendata", fromlist=["PhraseFilter"]).PhraseFilter(
        run.ds.od.heldout_phrases())
    assert not any(held(s) for s in got)
    # deterministic, and off by default
    assert frame_corpus(Run(cfg, 1, tmp_path / "b", tmp_path / "cache", REPO / "assets", [])) == got
    assert frame_corpus(Run(CONFIGS["open-smoke"], 0, tmp_path / "c", tmp_path / "cache", REPO / "assets", [])) == []
