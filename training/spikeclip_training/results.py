"""Write ``training/RESULTS.md`` from a finished (or running) run directory, and install its checkpoint.

    python -m spikeclip_training.results RUN_DIR [--holdout-run DIR] [--out training/RESULTS.md]
                                         [--install assets/checkpoints/default.safetensors]

Everything in the report is read from RUN_DIR (``run.json``, ``metrics.jsonl``, ``*/done.json``,
``evaluate/results.json``, the exported checkpoint's metadata); nothing is recomputed. ``--install`` copies the
exported checkpoint (and the golden fixture beside it as ``*.golden.safetensors``) only if the run meets the
acceptance of issue 4 (ANN teacher >= 91 %, spiking >= 89 % and within 2 points), unless ``--force``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Optional

from .st_io import sha256_file as sha256

ACCEPT = {"ann": 0.91, "snn": 0.89, "gap": 0.02}
STAGES = ["teacher", "text-align", "align", "finetune", "export", "evaluate", "fixtures"]


def _read(p: Path):
    return json.loads(p.read_text()) if p.exists() else None


def _metrics(run: Path) -> list[dict]:
    p = run / "metrics.jsonl"
    return [json.loads(l) for l in p.read_text().splitlines()] if p.exists() else []




OPEN_ACCEPT = {"fm_ann": 0.91, "fm_snn": 0.89, "gap": 0.02, "synonyms_snn": 0.75, "heldout_top5_snn": 0.30,
               "text_cos": 0.90}


def primary_synonyms(fm: dict) -> str:
    """The synonym list the acceptance line uses: ``everyday`` (words a person types), else the first one."""
    return "everyday" if "everyday" in fm["lists"] else next(k for k in fm["lists"] if k != "canonical")


def open_acceptance(res: dict) -> dict:
    """Issue 16's acceptance lines on ``open_eval.evaluate_open`` results (synonyms: the first list)."""
    fm = res["fashion_mnist"]
    first = primary_synonyms(fm)
    a = {"fm_ann": fm["canonical"]["ann"] >= OPEN_ACCEPT["fm_ann"],
         "fm_snn": fm["canonical"]["snn"] >= OPEN_ACCEPT["fm_snn"],
         "gap": fm["canonical"]["ann"] - fm["canonical"]["snn"] <= OPEN_ACCEPT["gap"],
         "synonyms_snn": fm[first]["snn"] >= OPEN_ACCEPT["synonyms_snn"],
         "heldout_top5_snn": res["heldout"]["snn"]["top5"] >= OPEN_ACCEPT["heldout_top5_snn"],
         "text_cos": res["text_heldout_cosine"]["training_templates"]["mean"] >= OPEN_ACCEPT["text_cos"]}
    a["all"] = all(a.values())
    return a


def open_sections(res: dict) -> list[str]:
    """The open-vocabulary report: acceptance table, synonym lists, held-out concepts, text cosine."""
    fm, h, tc = res["fashion_mnist"], res["heldout"], res["text_heldout_cosine"]
    acc = open_acceptance(res)
    ok = lambda b: "pass" if b else "**FAIL**"
    first = primary_synonyms(fm)
    c = fm["canonical"]
    L = ["## Acceptance (issue 16; zero-shot, prompt ensemble of the checkpoint's "
         f"{len(res['templates'])} templates)", "",
         "| measure | spiking | ANN teacher | target | result |", "|---|---|---|---|---|",
         f"| Fashion-MNIST test ({fm['n']} images), canonical names, 10-way | {pct(c['snn'])} | {pct(c['ann'])} | "
         f"SNN >= 89 %, ANN >= 91 % | {ok(acc['fm_snn'] and acc['fm_ann'])} |",
         f"| gap ANN - spiking | {100 * (c['ann'] - c['snn']):.2f} points | | <= 2 points | {ok(acc['gap'])} |",
         f"| Fashion-MNIST, synonyms never in a training caption (`{first}` list) | {pct(fm[first]['snn'])} | "
         f"{pct(fm[first]['ann'])} | SNN >= 75 % | {ok(acc['synonyms_snn'])} |",
         f"| held-out concepts ({h['concepts']} concepts, {h['pictures']} pictures), top-5 among held-out | "
         f"{pct(h['snn']['top5'])} | {pct(h['ann']['top5'])} | SNN >= 30 % (chance {pct(h['chance_top5'])}) | "
         f"{ok(acc['heldout_top5_snn'])} |",
         f"| held-out concepts, top-1 among held-out | {pct(h['snn']['top1'])} | {pct(h['ann']['top1'])} | "
         f"reported (chance {pct(h['chance_top1'])}) | - |",
         f"| spiking text vs MiniLM, held-out prompts ({tc['training_templates']['prompts']}), mean cosine | "
         f"{tc['training_templates']['mean']:.4f} | | >= 0.9 | {ok(acc['text_cos'])} |", ""]
    L += ["Fashion-MNIST with unseen templates: spiking "
          f"{pct(c.get('snn_unseen_templates'))}, ANN {pct(c.get('ann_unseen_templates'))}.", "",
          "### Synonym lists (no training caption contains any of them; `opendata.check_reserved` enforces it)", "",
          "| list | names (label order) | spiking | ANN teacher | MiniLM oracle |", "|---|---|---|---|---|"]
    for k in ["canonical", first] + [k for k in fm["lists"] if k not in ("canonical", first)]:
        names = fm["lists"][k]
        o = fm[k].get("text_oracle_classes")
        L.append(f"| {k} | {', '.join(names)} | {pct(fm[k]['snn'])} | {pct(fm[k]['ann'])} | "
                 f"{'-' if o is None else f'{o} / 10'} |")
    if any("text_oracle_classes" in fm[k] for k in fm["lists"]):
        L += ["", "MiniLM oracle: for how many garments the teacher's class bank (what the ANN teacher is trained to "
              "output) is nearer to that garment's name in the list than to every other name, MiniLM alone: an image "
              "encoder that hit its class bank exactly would score about that fraction of its canonical accuracy."]
    L += ["", "### Per-class Fashion-MNIST accuracy (canonical names)", "", "| class | spiking | ANN teacher |",
          "|---|---|---|"]
    from .data import CLASSES
    for name in CLASSES:
        L.append(f"| {name} | {pct(c['snn_per_class'][name])} | {pct(c['ann_per_class'][name])} |")
    L += ["", "### Held-out concepts", "",
          "Pictures of concepts that no training stage saw (images, names and keywords; the text corpus is filtered "
          "too), ranked among all held-out concepts' names. Where they go among the seen concepts (nearest seen "
          "name, most frequent):", ""]
    for side, name in (("snn", "spiking"), ("ann", "ANN teacher")):
        near = ", ".join(f"{n} ({k})" for n, k in h[side]["nearest_seen_most_frequent"])
        L.append(f"- {name}: {near}; predicted a held-out name when all concepts compete: "
                 f"{pct(h[side]['predicted_heldout_among_all'])}")
    L += ["", "Examples (spiking model):", "", "| picture | truth | top-5 among held-out | nearest seen |",
          "|---|---|---|---|"]
    for e in h["snn"]["examples"]:
        L.append(f"| `{e['picture']}` | {e['truth']} | {', '.join(e['top5'])} | {e['nearest_seen']} |")
    st = res["seen_test_pictures"]
    L += ["", f"Held-out pictures of seen concepts ({st['pictures']} pictures, among all {st['concepts']} seen "
          f"concepts): spiking top-1 {pct(st['snn']['top1'])}, top-5 {pct(st['snn']['top5'])}; ANN top-1 "
          f"{pct(st['ann']['top1'])}, top-5 {pct(st['ann']['top5'])}.", "",
          "### Spiking text encoder vs MiniLM on held-out prompts", "",
          "| templates | prompts | mean | median | worst decile (10th percentile) | min |", "|---|---|---|---|---|---|"]
    for k, v in tc.items():
        L.append(f"| {k.replace('_', ' ')} | {v['prompts']} | {v['mean']:.4f} | {v['median']:.4f} | "
                 f"{v['worst_decile']:.4f} | {v['min']:.4f} |")
    d = res["data"]
    L += ["", f"Data: {d['concepts']} concepts ({d['seen']} seen, {d['heldout']} held out); package versions "
          + ", ".join(f"{k} {v}" for k, v in d["info"]["packages"].items()) + "; docs/TRAINING.md has the data card.",
          ""]
    return L


def acceptance(res: dict) -> dict:
    if "fashion_mnist" in res:
        return open_acceptance(res)
    ann, snn = res["ann_teacher_acc"], res["spiking_acc"]
    return {"ann": ann >= ACCEPT["ann"], "snn": snn >= ACCEPT["snn"], "gap": ann - snn <= ACCEPT["gap"],
            "all": ann >= ACCEPT["ann"] and snn >= ACCEPT["snn"] and ann - snn <= ACCEPT["gap"]}


def pct(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"


def report(run: Path, holdout: Optional[Path] = None, out: Optional[Path] = None) -> str:
    from .export import read_checkpoint_config
    meta = _read(run / "run.json") or {}
    cfg = meta.get("config", {})
    seed = meta.get("seed")
    res = _read(run / "evaluate" / "results.json")
    ckpt = run / "export" / "model.safetensors"
    prov = read_checkpoint_config(ckpt).provenance if ckpt.exists() else {}
    L = [f"# Training results: `{cfg.get('name', '?')}` configuration, seed {seed}", ""]
    L += ["Generated by `python -m spikeclip_training.results` from the run directory "
          f"`{run}`; every number below is read from that run's files (docs/TRAINING.md explains the pipeline).", ""]
    world = meta.get("world_size", 1)
    launcher = f"python -m torch.distributed.run --nproc_per_node={world} " if world > 1 else "python "
    sets = ""
    try:  # the --set overrides of the run: its config against the named one
        from .configs import CONFIGS, TrainConfig
        sets = "".join(f" --set {s}" for s in TrainConfig.from_dict(cfg).overrides_from(CONFIGS[cfg.get("name")]))
    except (KeyError, TypeError):
        pass
    cmd = (f"PYTHONPATH=training {launcher}-m spikeclip_training.train all --config {cfg.get('name')} "
           f"--out {run} --seed {seed}{sets}")
    L += ["## Provenance", "",
          f"- configuration `{cfg.get('name')}`, seed {seed}, {world} DDP rank(s) on the CPU (gloo), "
          + ("one torch thread per rank" if not cfg.get("threads") else f"{cfg.get('threads')} thread(s) per rank"),
          f"- command: `{cmd}`",
          f"- report: `PYTHONPATH=training python -m spikeclip_training.results {run} --out {out or 'training/RESULTS.md'}`"]
    if prov:
        L += [f"- code: git commit `{prov.get('git_revision', '?')}`"
              + (" plus the then uncommitted `training/` sources of this change (the pipeline's first run)"
                 if prov.get("git_training_dirty") else ""),
              f"- torch {prov.get('torch', '?')}; data: {prov.get('data', {}).get('splits', '')}"]
    else:
        L += ["- **run in progress**: provenance, test accuracies, firing rates and energy appear when the "
              "`export` and `evaluate` stages have finished"]
    L.append("")
    if ckpt.exists():
        L += [f"- checkpoint `{ckpt}`: {ckpt.stat().st_size / 2**20:.1f} MiB, sha256 `{sha256(ckpt)}`", ""]
    is_open = bool(res) and "fashion_mnist" in res
    if is_open:
        L += open_sections(res)
    if res and not is_open:
        acc = acceptance(res)
        ok = lambda b: "pass" if b else "**FAIL**"
        L += [f"## Acceptance (Fashion-MNIST test set, {res['n_test']} images, zero-shot, prompt ensemble of the "
              f"{len(res['templates']['train'])} training templates over the 10 class names)", "",
              "| model | test accuracy | target | result |", "|---|---|---|---|",
              f"| ANN teacher (ScratchCLIP twin + MiniLM class embeddings) | {pct(res['ann_teacher_acc'])} | >= 91 % | {ok(acc['ann'])} |",
              f"| spiking SpikeCLIP (spiking image + spiking text encoder) | {pct(res['spiking_acc'])} | >= 89 % | {ok(acc['snn'])} |",
              f"| gap teacher - spiking | {100 * (res['ann_teacher_acc'] - res['spiking_acc']):.2f} points | <= 2 points | {ok(acc['gap'])} |",
              ""]
        if "ann_teacher_acc_minilm_f16_asset" in res:
            L += [f"ANN teacher with the shipped F16 MiniLM (`assets/minilm/model.f16.safetensors`, what the Swift "
                  f"engine computes): {pct(res['ann_teacher_acc_minilm_f16_asset'])}.", ""]
        val = prov.get("accuracy", {}).get("val", {})
        if val:
            L += [f"Validation (5 000 held-out training images, used for every model-selection decision): ANN "
                  f"{pct(val.get('ann_teacher'))}, spiking {pct(val.get('spiking'))}.", ""]
        L += ["## Per-class test accuracy", "", "| class | ANN teacher | spiking |", "|---|---|---|"]
        from .data import CLASSES
        for c in CLASSES:
            L.append(f"| {c} | {pct(res['ann_teacher_per_class'][c])} | {pct(res['spiking_per_class'][c])} |")
        L += ["", "## Out-of-category numbers", "",
              "(b) prompt templates never used in any training stage (text corpus included): "
              + ", ".join(f"`{t}`" for t in res["templates"]["heldout"]), "",
              "| model | training templates | unseen templates |", "|---|---|---|",
              f"| ANN teacher | {pct(res['ann_teacher_acc'])} | {pct(res['ann_teacher_acc_heldout_templates'])} |",
              f"| spiking | {pct(res['spiking_acc'])} | {pct(res['spiking_acc_heldout_templates'])} |", ""]
    hres = _read(holdout / "evaluate" / "results.json") if holdout else None
    if hres:
        hc = hres["heldout_classes"]
        k = len(hc)
        hmeta = _read(holdout / "run.json") or {}
        hckpt = holdout / "export" / "model.safetensors"
        hprov = read_checkpoint_config(hckpt).provenance if hckpt.exists() else {}
        L += [f"(a) classes {', '.join(hc)} held out of all image training (teacher, align, finetune; their images "
              f"are also excluded from validation), run `{holdout}` (seed {hmeta.get('seed')}, commit "
              f"`{hprov.get('git_revision', 'unknown')[:12]}`, otherwise the same configuration). "
              "Test images of the held-out classes:", "",
              "| model | held-out images, 10-way | held-out images, "
              f"{k}-way among held-out | seen-class images, 10-way |", "|---|---|---|---|"]
        for side, name in (("ann_teacher", "ANN teacher"), ("spiking", "spiking")):
            L.append(f"| {name} | {pct(hres.get(f'{side}_heldout_classes_10way'))} | "
                     f"{pct(hres.get(f'{side}_heldout_classes_{k}way'))} | {pct(hres.get(f'{side}_seen_classes_10way'))} |")
        L.append("")
        L += [f"10-way, a held-out class competes with the {10 - k} seen ones; cross-entropy over the seen class prompts "
              "pulls every training image toward a seen prototype, so images of a class never seen are drawn to their "
              f"nearest seen relative. {k}-way, only the held-out names compete (chance {100 / k:.0f} %): is an image nearer "
              "the right unseen name than the wrong one?", ""]
        from .data import CLASSES
        L += ["Where the held-out images go (10-way, training templates; the three most frequent predictions):", "",
              "| true class | ANN teacher | spiking |", "|---|---|---|"]
        for c in hc:
            i = CLASSES.index(c)
            cells = []
            for side in ("ann_teacher", "spiking"):
                row = hres[f"{side}_confusion"][i]
                n = max(1, sum(row))
                top = sorted(range(len(row)), key=lambda j: -row[j])[:3]
                cells.append(", ".join(f"{CLASSES[j]} {100 * row[j] / n:.1f} %" for j in top if row[j]))
            L.append(f"| {c} | {cells[0]} | {cells[1]} |")
        L.append("")
    elif res and not is_open:
        L += ["(a) two classes held out of image training: **not done yet** (command in docs/TRAINING.md).", ""]
    if res:
        scope = (f"the {res['fashion_mnist']['n']} Fashion-MNIST test images and the "
                 f"{res['seen_test_pictures']['pictures']} pictogram test pictures" if is_open
                 else f"the {res['n_test']} test images")
        L += ["## Mean firing rate per LIF layer", "",
              f"Vision layers over {scope} and T = 4 steps; text layers over the checkpoint's default prompts.", "",
              "| layer | rate |", "|---|---|"]
        L += [f"| `{n}` | {r:.4f} |" for n, r in res["firing_rates"].items()]
        e = res["energy"]
        L += ["", "## Energy per image (SPEC section 4, computed in Python from the recorded spikes)", "",
              f"Constants: {e['constants']['source']}: MAC {e['constants']['mac_pJ']} pJ, AC {e['constants']['ac_pJ']} pJ; "
              f"fuller estimate adds LIF updates {e['constants']['neuron_update_pJ']} pJ, adds {e['constants']['add_pJ']} pJ, "
              f"multiplies {e['constants']['multiply_pJ']} pJ (no memory traffic). Mean over {e['images']} test images.", "",
              "| | paper convention | fuller estimate |", "|---|---|---|",
              f"| spiking image encoder | {e['snn_vision_paper_uJ_mean']:.3f} uJ | {e['snn_vision_fuller_uJ_mean']:.3f} uJ |",
              f"| ANN twin image encoder | {e['ann_vision_paper_uJ']:.3f} uJ | {e['ann_vision_fuller_uJ']:.3f} uJ |",
              f"| spiking text encoder, per prompt | {e['snn_text_paper_uJ_per_prompt_mean']:.3f} uJ | "
              f"{e['snn_text_fuller_uJ_per_prompt_mean']:.3f} uJ |", "",
              "The Swift engine's `EnergyAccounting` counts the same operations; its per-image numbers should agree.", ""]
        p = res["params"]
        L += ["## Parameters", "", "| part | parameters |", "|---|---|",
              f"| spiking image encoder | {p['vision']:,} |",
              f"| spiking text encoder, trained (fc1, fc2, time weights) | {p['text_trained']:,} |",
              f"| spiking text encoder, frozen MiniLM input embedding | {p['text_embedding_frozen']:,} |",
              f"| ANN twin (image teacher) | {p['ann_vision']:,} |",
              f"| MiniLM text teacher (separate file) | {p['minilm_teacher']:,} |", ""]
    L += ["## Wall time per stage", "", "| stage | epochs | best epoch | wall time | per epoch |", "|---|---|---|---|---|"]
    recs = _metrics(run)
    for s in STAGES:
        d = _read(run / s / "done.json")
        ep = [r for r in recs if r.get("stage") == s and "epoch" in r]
        if not d and not ep:
            continue
        per = [r["time"]["epoch_s"] for r in ep]
        wall = d.get("wall_s") if d else None
        L.append(f"| {s} | {len(ep) or '-'} | {d['best_epoch'] + 1 if d and 'best_epoch' in d else '-'} | "
                 f"{'%.0f s' % wall if wall is not None else ('running' if not d else '-')} | "
                 f"{'%.0f-%.0f s' % (min(per), max(per)) if per else '-'} |")
    L += ["", "Wall times are measured on a 2-core machine shared with other work; they vary by about +-30 %.", ""]
    L += ["## Validation curves", "", "| stage | epoch | train loss | validation |", "|---|---|---|---|"]
    for r in recs:
        if "epoch" in r:
            v = ", ".join(f"{k[4:]} {x:.4f}" for k, x in sorted(r.items()) if k.startswith("val_"))
            L.append(f"| {r['stage']} | {r['epoch'] + 1} | {r['train_loss']:.4f} | {v} |")
    L.append("")
    return "\n".join(L)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m spikeclip_training.results", description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--holdout-run", type=Path)
    ap.add_argument("--out", type=Path, help="write the report here (default: stdout)")
    ap.add_argument("--install", type=Path, help="copy the exported checkpoint here if the acceptance is met")
    ap.add_argument("--force", action="store_true", help="install even if the acceptance is not met")
    args = ap.parse_args(argv)
    text = report(args.run, args.holdout_run, args.out)
    if args.out:
        args.out.write_text(text)
    else:
        print(text)
    if args.install:
        res = _read(args.run / "evaluate" / "results.json")
        if res is None:
            print("install: the run has not been evaluated", file=sys.stderr)
            return 2
        if not (acceptance(res)["all"] or args.force):
            print(f"install: acceptance not met ({acceptance(res)}); not installed", file=sys.stderr)
            return 3
        args.install.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.run / "export" / "model.safetensors", args.install)
        golden = args.run / "fixtures" / "golden.safetensors"
        if golden.exists():
            shutil.copyfile(golden, args.install.with_name(args.install.stem + ".golden.safetensors"))
        print(f"installed {args.install}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
