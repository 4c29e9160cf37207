"""Evaluation of an exported open-vocabulary checkpoint (issue 16; the only code that reads the test and held-out
splits of ``opendata.py``). Every number comes from the weights in the file, zero-shot with the checkpoint's
templates (prompt ensemble, SPEC 1.5):

- Fashion-MNIST test (10 000 images, 3x32x32 view), 10-way with the canonical class names and with each list of
  :data:`opendata.FMNIST_SYNONYMS` (names no training caption contains);
- held-out concepts: each held-out picture ranked among all held-out concepts' names (top-1, top-5; chance
  ``k / n``), and where it goes among the seen concepts (most frequent nearest seen names);
- held-out pictures of seen concepts (``test`` split): top-1 / top-5 among all seen concepts;
- the spiking text encoder against MiniLM on the held-out concepts' prompts (training and unseen templates): mean,
  median and worst-decile cosine;
- mean firing rate per LIF layer and energy per image (SPEC section 4) on Fashion-MNIST test images and the
  pictogram test pictures; the ANN twin's energy.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F

from . import data, energy, opendata, text
from .evaluate import param_counts
from .export import load_checkpoint
from .model import class_embeddings, lif_layers


def _bank_snn(model, tok, names, templates):
    ids, _ = tok(text.prompts(names, templates))
    with torch.no_grad():
        model.text.eval()
        return torch.cat([class_embeddings(model.text(ids[i:i + 4096]), len(templates))
                          for i in range(0, len(ids), 4096)])


def _bank_ann(run, names, templates):
    from .train import shared_cached
    _, emb = shared_cached(run, text.prompts(names, templates))
    return class_embeddings(emb, len(templates))


def _topk(emb, bank, y, k=5):
    cos = F.normalize(emb, dim=-1) @ bank.T
    top = cos.topk(min(k, bank.shape[0]), dim=-1).indices
    return float((top[:, 0] == y).double().mean()), float((top == y[:, None]).any(-1).double().mean()), top


def evaluate_open(path: Path, run) -> dict:
    """All numbers of the module docstring for checkpoint ``path`` (run context ``run`` for data and caches)."""
    ds = run.ds
    od = ds.od
    cfg = run.cfg
    model, mcfg = load_checkpoint(path)
    model.eval()
    tok = run.tokenizer
    templates = list(mcfg.templates)
    names = od.names()
    seen, held = od.seen(), od.heldout()
    layers = lif_layers(model)
    vis_layers = OrderedDict((n, m) for n, m in layers.items() if n.startswith("vision."))
    spike_sum = {n: 0.0 for n in layers}
    spike_cnt = {n: 0 for n in layers}
    e_paper, e_fuller = [], []

    def encode(d, record: bool, energy_limit: int):
        out = {"ann": [], "snn": []}
        n = len(d.y)
        with torch.no_grad():
            for i in range(0, n, cfg.eval_batch_size):
                j = min(n, i + cfg.eval_batch_size)
                x = ds.eval_x(d, i, j)
                out["ann"].append(model.ann_vision(x))
                for m in vis_layers.values():
                    m.record_spikes = record
                out["snn"].append(model.vision(x))
                if record:
                    rec = {k: m.recorded_spikes for k, m in vis_layers.items()}
                    for k, s in rec.items():
                        spike_sum[k] += float(s.double().sum())
                        spike_cnt[k] += s.numel()
                    if i < energy_limit:
                        kk = min(j - i, energy_limit - i)
                        tot = energy.vision_ops({k: s[:, :kk] for k, s in rec.items()}, mcfg)
                        e_paper.append(tot.paper_pj())
                        e_fuller.append(tot.fuller_pj())
                    for m in vis_layers.values():
                        m.record_spikes = False
                        m.clear_records()
        return {k: torch.cat(v) for k, v in out.items()}

    res: dict = {"checkpoint": str(path), "templates": templates, "heldout_templates": list(text.HELDOUT_TEMPLATES)}
    n_energy = cfg.energy_images or 10 ** 9
    # --- Fashion-MNIST test
    fm = ds.split("test")
    fm = type(fm)(fm.x, fm.y[:fm.n_fm], fm.pic[:0])
    e_fm = encode(fm, True, n_energy)
    y = fm.y
    fm_lists = {"canonical": list(data.CLASSES), **opendata.FMNIST_SYNONYMS}
    res["fashion_mnist"] = {"n": len(y), "lists": fm_lists}
    for lname, lst in fm_lists.items():
        r = {}
        for side, bank in (("snn", _bank_snn(model, tok, lst, templates)), ("ann", _bank_ann(run, lst, templates))):
            pred = (F.normalize(e_fm[side], dim=-1) @ bank.T).argmax(-1)
            r[side] = float((pred == y).double().mean())
            if lname == "canonical":
                r[side + "_per_class"] = {data.CLASSES[k]: float((pred[y == k] == k).double().mean())
                                          for k in range(10)}
        res["fashion_mnist"][lname] = r
    # the text space's own limit: for how many garments the teacher's class bank (what the teacher is trained to
    # output) is nearest to the garment's own name in each list, MiniLM alone
    from .train import teacher_prompt_embeddings
    tb = teacher_prompt_embeddings(run, list(text.TRAIN_TEMPLATES))[:10]
    for lname, lst in fm_lists.items():
        pick = (tb @ _bank_ann(run, lst, templates).T).argmax(-1)
        res["fashion_mnist"][lname]["text_oracle_classes"] = int((pick == torch.arange(10)).sum())
    for side in ("snn", "ann"):
        bank = (_bank_snn(model, tok, list(data.CLASSES), list(text.HELDOUT_TEMPLATES)) if side == "snn"
                else _bank_ann(run, list(data.CLASSES), list(text.HELDOUT_TEMPLATES)))
        pred = (F.normalize(e_fm[side], dim=-1) @ bank.T).argmax(-1)
        res["fashion_mnist"]["canonical"][side + "_unseen_templates"] = float((pred == y).double().mean())
    # --- held-out concepts
    hd = ds.split("heldout")
    e_h = encode(hd, False, 0)
    held_names = [names[i] for i in held]
    pos = {c: k for k, c in enumerate(held)}
    yh = torch.tensor([pos[int(c)] for c in hd.y])
    seen_names = [names[i] for i in seen]
    res["heldout"] = {"concepts": len(held), "pictures": len(yh), "chance_top1": 1 / len(held),
                      "chance_top5": min(5, len(held)) / len(held), "names": held_names}
    banks = {"snn": _bank_snn(model, tok, names, templates), "ann": _bank_ann(run, names, templates)}
    for side in ("snn", "ann"):
        b_h = banks[side][torch.tensor(held)]
        t1, t5, top = _topk(e_h[side], b_h, yh)
        near = (F.normalize(e_h[side], dim=-1) @ banks[side][torch.tensor(seen)].T).argmax(-1)
        allp = (F.normalize(e_h[side], dim=-1) @ banks[side].T).argmax(-1)
        res["heldout"][side] = {
            "top1": t1, "top5": t5,
            "nearest_seen_most_frequent": Counter(seen_names[int(i)] for i in near).most_common(10),
            "predicted_heldout_among_all": float(torch.isin(allp, torch.tensor(held)).double().mean()),
            "examples": [{"picture": hd_o, "truth": held_names[int(yy)],
                          "top5": [held_names[int(t)] for t in tt], "nearest_seen": seen_names[int(nn)]}
                         for hd_o, yy, tt, nn in list(zip([o for o, s in zip(od.pictures.origin, od.pictures.split)
                                                           if s == "heldout"], yh, top, near))[:12]],
        }
    # --- held-out pictures of seen concepts
    te = ds.split("test")
    te = type(te)(te.x[:0], te.y[te.n_fm:], te.pic)
    e_t = encode(te, True, n_energy)
    spos = {c: k for k, c in enumerate(seen)}
    yt = torch.tensor([spos[int(c)] for c in te.y])
    res["seen_test_pictures"] = {"pictures": len(yt), "concepts": len(seen)}
    for side in ("snn", "ann"):
        t1, t5, _ = _topk(e_t[side], banks[side][torch.tensor(seen)], yt)
        res["seen_test_pictures"][side] = {"top1": t1, "top5": t5}
    # --- spiking text vs MiniLM on held-out prompts
    res["text_heldout_cosine"] = text_heldout_cosines(run, model.text, held_names, templates)
    # --- firing rates of the text side: the checkpoint's default prompts
    for n, m in layers.items():
        if n.startswith("text."):
            m.record_spikes = True
    ids, _ = tok(text.prompts(list(mcfg.classes), templates))
    with torch.no_grad():
        model.text(ids)
    trec = {n: m.recorded_spikes for n, m in layers.items() if n.startswith("text.")}
    for n, s in trec.items():
        spike_sum[n] += float(s.double().sum())
        spike_cnt[n] += s.numel()
        layers[n].record_spikes = False
        layers[n].clear_records()
    ttot = energy.text_ops(trec, mcfg)
    res["firing_rates"] = {n: spike_sum[n] / max(1, spike_cnt[n]) for n in layers}
    ann = energy.ann_vision_ops(mcfg)
    ep, ef = torch.cat(e_paper), torch.cat(e_fuller)
    res["energy"] = {
        "images": int(ep.numel()), "constants": energy.CONSTANTS,
        "snn_vision_paper_uJ_mean": float(ep.mean()) / 1e6, "snn_vision_fuller_uJ_mean": float(ef.mean()) / 1e6,
        "ann_vision_paper_uJ": float(ann.paper_pj()[0]) / 1e6, "ann_vision_fuller_uJ": float(ann.fuller_pj()[0]) / 1e6,
        "ann_vision_macs": float(ann.macs[0]),
        "snn_text_paper_uJ_per_prompt_mean": float(ttot.paper_pj().mean()) / 1e6,
        "snn_text_fuller_uJ_per_prompt_mean": float(ttot.fuller_pj().mean()) / 1e6,
    }
    res["params"] = param_counts(model)
    res["checkpoint_bytes"] = path.stat().st_size
    res["data"] = {"concepts": len(names), "seen": len(seen), "heldout": len(held), "info": od.info}
    return res


def text_heldout_cosines(run, text_encoder, held_names: list[str], templates: list[str]) -> dict:
    """Cosine of the spiking text encoder's embedding with MiniLM's on every held-out concept's prompt, with the
    training templates and with ``text.HELDOUT_TEMPLATES``: prompts, mean, median, worst decile (10th percentile), min."""
    from .train import shared_cached
    out = {}
    for tname, tl in (("training_templates", templates), ("unseen_templates", list(text.HELDOUT_TEMPLATES))):
        prompts = text.prompts(held_names, tl)
        ids, emb_t = shared_cached(run, prompts)
        with torch.no_grad():
            emb_s = torch.cat([text_encoder(ids[i:i + 4096]) for i in range(0, len(ids), 4096)])
        cos = F.cosine_similarity(emb_s, emb_t, dim=-1).double()
        q = torch.quantile(cos, torch.tensor([0.1, 0.5], dtype=torch.float64))
        out[tname] = {"prompts": len(prompts), "mean": float(cos.mean()), "median": float(q[1]),
                      "worst_decile": float(q[0]), "min": float(cos.min())}
    return out


def _stage_model(run_dir: Path, cache_dir: Path, stage: str):
    """(run context, model in eval mode with ``stage``'s ``final.pt`` loaded) for run directory ``run_dir``, with the
    configuration pinned in its ``run.json``. Raises ``SystemExit`` when that stage has not finished."""
    import json
    from .configs import TrainConfig
    from .train import REPO, Run, build_model, load_stage_state
    run_dir = Path(run_dir)
    cfg = TrainConfig.from_dict(json.loads((run_dir / "run.json").read_text())["config"])
    run = Run(cfg, 0, run_dir, cache_dir, REPO / "assets", [])
    model = build_model(run)
    load_stage_state(run, model, stage)
    return run, model.eval()


def text_align_cosines(run_dir: Path, cache_dir: Path) -> dict:
    """:func:`text_heldout_cosines` for the ``text-align`` stage of run directory ``run_dir`` (its ``final.pt``, the
    configuration pinned in its ``run.json``), with the training templates: what a text-only experiment measures
    without running the later stages. Raises ``SystemExit`` when that stage has not finished."""
    run, model = _stage_model(run_dir, cache_dir, "text-align")
    od = run.ds.od
    names = od.names()
    return text_heldout_cosines(run, model.text, [names[i] for i in od.heldout()], list(text.TRAIN_TEMPLATES))


def teacher_val_scores(run_dir: Path, cache_dir: Path) -> dict:
    """The ANN teacher of run directory ``run_dir`` (its ``teacher`` stage's ``final.pt``) on the validation split
    only, zero-shot with MiniLM class banks of the training templates: Fashion-MNIST validation images 10-way with
    the canonical names, with the unseen templates and with each synonym list; validation pictograms top-1 / top-5
    among all seen concepts. What a teacher-only experiment measures without touching the test or held-out sets.
    Raises ``SystemExit`` when that stage has not finished."""
    run, model = _stage_model(run_dir, cache_dir, "teacher")
    cfg, ds, od = run.cfg, run.ds, run.ds.od
    names, seen = od.names(), od.seen()
    val = ds.split("val")
    with torch.no_grad():
        emb = torch.cat([model.ann_vision(ds.eval_x(val, i, min(len(val.y), i + cfg.eval_batch_size)))
                         for i in range(0, len(val.y), cfg.eval_batch_size)])
    fm, y_fm = emb[:val.n_fm], val.y[:val.n_fm]
    out: dict = {"fashion_mnist_val_images": int(val.n_fm)}
    lists = {"canonical": list(data.CLASSES), **opendata.FMNIST_SYNONYMS}
    for lname, lst in lists.items():
        out[lname] = _topk(fm, _bank_ann(run, lst, list(text.TRAIN_TEMPLATES)), y_fm)[0]
    out["canonical_unseen_templates"] = _topk(fm, _bank_ann(run, list(data.CLASSES), list(text.HELDOUT_TEMPLATES)),
                                              y_fm)[0]
    pic, y_pic = emb[val.n_fm:], val.y[val.n_fm:]
    pos = {c: k for k, c in enumerate(seen)}
    t1, t5, _ = _topk(pic, _bank_ann(run, [names[i] for i in seen], list(text.TRAIN_TEMPLATES)),
                      torch.tensor([pos[int(c)] for c in y_pic]))
    out.update({"pictogram_val_pictures": len(y_pic), "pictogram_top1": t1, "pictogram_top5": t5})
    return out


if __name__ == "__main__":
    import argparse
    import json
    import os
    ap = argparse.ArgumentParser(description="held-out prompt cosines of a run's text-align stage, or with "
                                             "--teacher its ANN teacher's validation scores (issue 16)")
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--teacher", action="store_true", help="score the teacher stage on the validation split")
    ap.add_argument("--cache-dir", type=Path,
                    default=Path(os.environ.get("SPIKECLIP_CACHE", Path.home() / ".cache" / "spikeclip" / "teacher")))
    a = ap.parse_args()
    f = teacher_val_scores if a.teacher else text_align_cosines
    print(json.dumps(f(a.run_dir, a.cache_dir), indent=1))
