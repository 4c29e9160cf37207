"""Test-set evaluation of an exported checkpoint (the only code that reads the Fashion-MNIST test set).

Everything is computed from the weights stored in the checkpoint file (F16 tensors widened to F32 exactly as the
Swift engine does), so Python and Swift score the same numbers:

- zero-shot accuracy with prompt ensembling over the 10 class names: ANN teacher (ScratchCLIP twin vs MiniLM class
  embeddings) and spiking model (spiking image encoder vs spiking text encoder class embeddings), with the
  checkpoint's (training) templates and with templates never used in training;
- per-class accuracy, confusion matrix, held-out-class accuracy (when the run held classes out);
- mean firing rate per LIF layer (test images for ``vision.*``, the class prompts for ``text.*``);
- energy per image (SPEC section 4; paper convention and fuller estimate) for the SNN and the ANN twin;
- parameter counts.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F

from . import data, energy, st_io, text
from .config import AnnTextRef
from .export import load_checkpoint
from .model import class_embeddings, lif_layers


def minilm_f16_class_embeddings(asset: Path, tok: text.Tokenizer, templates: list[str]) -> Optional[torch.Tensor]:
    """MiniLM class embeddings computed with the shipped F16 weights (``assets/minilm/model.f16.safetensors``,
    widened to F32), i.e. what the Swift engine's ANN text side computes; None if the asset is absent."""
    if not asset.exists():
        return None
    from safetensors.torch import load_file
    m = text.MiniLM()
    state = {k[len("ann_text."):]: v.float() for k, v in load_file(str(asset)).items() if k.startswith("ann_text.")}
    missing, unexpected = m.model.load_state_dict(state, strict=False)
    if unexpected or any(not k.endswith("position_ids") for k in missing):
        raise RuntimeError(f"{asset}: unexpected {unexpected[:3]}, missing {missing[:3]}")
    ids, mask = tok(text.prompts(data.CLASSES, templates))
    return class_embeddings(m.encode(ids, mask), len(templates))


def param_counts(model) -> dict:
    n = lambda m: sum(p.numel() for p in m.parameters())
    return {"vision": n(model.vision), "text_total": n(model.text),
            "text_embedding_frozen": n(model.text.clip_embedding),
            "text_trained": n(model.text) - n(model.text.clip_embedding), "ann_vision": n(model.ann_vision),
            "minilm_teacher": sum(p.numel() for p in text.shared_minilm().model.parameters())}


def evaluate_checkpoint(path: Path, run) -> dict:
    """Evaluate ``path`` on the test split of ``run``'s configuration; returns a JSON-able dict."""
    from .train import image_split, seen_classes, spiking_class_embeddings, teacher_prompt_embeddings  # noqa: cycle
    cfg = run.cfg
    model, mcfg = load_checkpoint(path)
    model.eval()
    tok = run.tokenizer
    test = image_split(run, "test", only_seen=False)
    templates = {"train": list(mcfg.templates), "heldout": list(text.HELDOUT_TEMPLATES)}
    ce = {("ann", k): teacher_prompt_embeddings(run, v) for k, v in templates.items()}
    for k, v in templates.items():
        ce[("snn", k)] = spiking_class_embeddings(model, tok, v, "cpu")
    layers = lif_layers(model)
    vis_layers = OrderedDict((n, m) for n, m in layers.items() if n.startswith("vision."))
    spike_sum = {n: 0.0 for n in layers}
    spike_cnt = {n: 0 for n in layers}
    n_energy = len(test.y) if cfg.energy_images is None else min(cfg.energy_images, len(test.y))
    e_paper, e_fuller, embs = [], [], {"ann": [], "snn": []}
    with torch.no_grad():
        for i in range(0, len(test.y), cfg.eval_batch_size):
            x = data.normalize(test.x[i:i + cfg.eval_batch_size])
            embs["ann"].append(model.ann_vision(x))
            for m in vis_layers.values():
                m.record_spikes = True
            embs["snn"].append(model.vision(x))
            rec = {n: m.recorded_spikes for n, m in vis_layers.items()}
            for n, s in rec.items():
                spike_sum[n] += float(s.double().sum())
                spike_cnt[n] += s.numel()
            if i < n_energy:
                k = min(len(x), n_energy - i)
                tot = energy.vision_ops({n: s[:, :k] for n, s in rec.items()}, mcfg)
                e_paper.append(tot.paper_pj())
                e_fuller.append(tot.fuller_pj())
            for m in vis_layers.values():
                m.record_spikes = False
                m.clear_records()
        # text side: the checkpoint's default prompts
        for n, m in layers.items():
            if n.startswith("text."):
                m.record_spikes = True
        ids, _ = tok(text.prompts(data.CLASSES, templates["train"]))
        model.text(ids)
        trec = {n: m.recorded_spikes for n, m in layers.items() if n.startswith("text.")}
        for n, s in trec.items():
            spike_sum[n] += float(s.double().sum())
            spike_cnt[n] += s.numel()
            layers[n].record_spikes = False
            layers[n].clear_records()
        ttot = energy.text_ops(trec, mcfg)
    emb = {k: torch.cat(v) for k, v in embs.items()}
    y = test.y
    res: dict = {"checkpoint": str(path), "n_test": len(y), "logit_scale": mcfg.logit_scale,
                 "templates": templates}
    seen = seen_classes(run)
    held = [c for c in range(10) if c not in seen]
    for (side, tk), c in ce.items():
        cos = F.normalize(emb[side], dim=-1) @ c.T                        # [N, 10]
        pred = cos.argmax(-1)
        key = ("ann_teacher" if side == "ann" else "spiking") + ("_acc" if tk == "train" else "_acc_heldout_templates")
        res[key] = float((pred == y).double().mean())
        if tk == "train":
            res[key.replace("_acc", "_per_class")] = {data.CLASSES[k]: float((pred[y == k] == k).double().mean())
                                                      for k in range(10)}
            conf = torch.zeros(10, 10, dtype=torch.long)
            conf.index_put_((y, pred), torch.ones_like(y), accumulate=True)
            res[key.replace("_acc", "_confusion")] = conf.tolist()
        if held:
            hm = torch.isin(y, torch.tensor(held))
            sm = ~hm
            side_name = "ann_teacher" if side == "ann" else "spiking"
            suffix = "" if tk == "train" else "_heldout_templates"
            res[f"{side_name}_heldout_classes_10way{suffix}"] = float((pred[hm] == y[hm]).double().mean())
            hp = torch.tensor(held)[cos[hm][:, held].argmax(-1)]
            res[f"{side_name}_heldout_classes_{len(held)}way{suffix}"] = float((hp == y[hm]).double().mean())
            res[f"{side_name}_seen_classes_10way{suffix}"] = float((pred[sm] == y[sm]).double().mean())
    f16 = minilm_f16_class_embeddings(run.assets_dir / "minilm" / "model.f16.safetensors", tok, templates["train"])
    if f16 is not None:
        pred = (F.normalize(emb["ann"], dim=-1) @ f16.T).argmax(-1)
        res["ann_teacher_acc_minilm_f16_asset"] = float((pred == y).double().mean())
    res["heldout_classes"] = [data.CLASSES[c] for c in held]
    res["firing_rates"] = {n: spike_sum[n] / max(1, spike_cnt[n]) for n in layers}
    ann = energy.ann_vision_ops(mcfg)
    ep, ef = torch.cat(e_paper), torch.cat(e_fuller)
    res["energy"] = {
        "images": int(ep.numel()), "constants": energy.CONSTANTS,
        "snn_vision_paper_uJ_mean": float(ep.mean()) / 1e6, "snn_vision_fuller_uJ_mean": float(ef.mean()) / 1e6,
        "snn_vision_paper_uJ_min_max": [float(ep.min()) / 1e6, float(ep.max()) / 1e6],
        "ann_vision_paper_uJ": float(ann.paper_pj()[0]) / 1e6, "ann_vision_fuller_uJ": float(ann.fuller_pj()[0]) / 1e6,
        "ann_vision_macs": float(ann.macs[0]),
        "snn_text_paper_uJ_per_prompt_mean": float(ttot.paper_pj().mean()) / 1e6,
        "snn_text_fuller_uJ_per_prompt_mean": float(ttot.fuller_pj().mean()) / 1e6,
    }
    res["params"] = param_counts(model)
    res["checkpoint_bytes"] = path.stat().st_size
    return res


def update_provenance(path: Path, res: dict, ann_text: Optional[AnnTextRef]) -> None:
    """Rewrite ``path``'s metadata with the measured test accuracies (tensors unchanged, byte for byte);
    fill ``ann_text`` if the MiniLM asset exists now."""
    from safetensors import safe_open
    from .export import read_checkpoint_config
    cfg = read_checkpoint_config(path)
    acc = dict(cfg.provenance.get("accuracy", {}))
    if "fashion_mnist" in res:                 # the open-vocabulary set (open_eval.py)
        acc["test"] = open_summary(res)
    else:
        acc["test"] = fashion_summary(res)
    cfg.provenance = {**cfg.provenance, "accuracy": acc}
    if ann_text is not None:
        cfg.ann_text = ann_text
    meta, _, _ = st_io.read_header(path)
    with safe_open(str(path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    st_io.write_atomic(path, st_io.serialize(tensors, {**meta, "config": cfg.to_json()}), overwrite=True)


def open_summary(res: dict) -> dict:
    """The headline test numbers of ``open_eval.evaluate_open`` (what the checkpoint's provenance keeps)."""
    fm, h = res["fashion_mnist"], res["heldout"]
    out = {"fashion_mnist_canonical": {"spiking": fm["canonical"]["snn"], "ann_teacher": fm["canonical"]["ann"]},
           "fashion_mnist_synonyms": {k: {"spiking": fm[k]["snn"], "ann_teacher": fm[k]["ann"], "names": fm["lists"][k]}
                                      for k in fm["lists"] if k != "canonical"},
           "heldout_concepts": {"concepts": h["concepts"], "pictures": h["pictures"],
                                "spiking_top1": h["snn"]["top1"], "spiking_top5": h["snn"]["top5"],
                                "ann_teacher_top1": h["ann"]["top1"], "ann_teacher_top5": h["ann"]["top5"]},
           "text_heldout_cosine_mean": res["text_heldout_cosine"]["training_templates"]["mean"],
           "n_fashion_mnist": fm["n"]}
    return out


def fashion_summary(res: dict) -> dict:
    test = {k: res[k] for k in ("ann_teacher_acc", "spiking_acc", "ann_teacher_acc_heldout_templates",
                                       "spiking_acc_heldout_templates") if k in res}
    for k in list(res):
        if k.startswith(("ann_teacher_heldout_classes", "spiking_heldout_classes")):
            test[k] = res[k]
    test["n"] = res["n_test"]
    test["heldout_templates"] = res["templates"]["heldout"]
    return test
