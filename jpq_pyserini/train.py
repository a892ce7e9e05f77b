"""``jpq-pyserini train``: JPQ joint training of the query encoder and the PQ centroids.

The loop composes the paper's three ideas, each in its own module:
  loss.py       ranking-oriented loss on the PQ scores          (idea 1)
  codebook.py   PQ centroids as trainable parameters             (idea 2)
  negatives.py  end-to-end negatives from the current PQ index    (idea 3)
Document codes and the OPQ rotation stay fixed. The query side is the encoder followed by a
linear query head (query_head.py). ``--fine-tune`` says when the transformer trains: ``auto``
(stages.py) runs this loop twice, the head on the frozen transformer first, then the
transformer too, kept only if dev rises; ``joint`` trains it from the first step; ``off``
never. Afterwards the dev-selected query side (transformer and head) is written as
``encoder/`` and the centroids back into the faiss index as ``index/``, which Pyserini's stock
FaissSearcher loads with ``JpqQueryEncoder(encoder/)``.

``--teacher FLAT_DIR`` trains without relevance labels (teacher.py): the uncompressed index's
ranking of real or generated queries takes their place, distilled listwise, and agreement with
it on held-out queries selects the epoch.

``--target flat`` trains the query encoder the same way against the uncompressed vectors
(the ADORE-style baseline), to separate in-domain query fine-tuning from PQ-aware training.
Several processes: ``torchrun --nproc-per-node N -m jpq_pyserini.train ...`` (gloo on CPU,
NCCL on GPU): each rank takes a slice of every global batch and gradients are all-reduced.
"""
import argparse
import dataclasses
import json
import math
import os
import random
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import checkpoint, fsutil, stages, teacher
from .codebook import PQCodebook
from .datasets import judged_queries
from .encoder import DEFAULT_ENCODER, QUERY_MAX_LENGTH, TextEncoder, resolve_device
from .errors import Parser, UsageError, cli, fraction, nonneg_float, nonneg_int, positive_float, positive_int
from .fsutil import atomic_dir, atomic_file, check_output_dir
from .indexdir import (flat_vectors, inherited, pq_parts, read_assignment, read_index_dir,
                       write_assignment, write_index_dir)
from .loss import RANKING_LOSSES, listwise_distill_loss, reconstruction_loss
from .negatives import NegativeSampler
from .query_head import QueryHead
from .retrieval import FAISS_ABOVE, MINING, FlatScorer, Retriever, evaluate_dev, text_queries


# label-free defaults, chosen on both collections' dev splits (eval/results/labelfree/sweeps.md):
# the listwise loss, no patience (the agreement with the teacher moves by less than its noise
# from epoch to epoch); a softer teacher for pseudo-queries, whose own source document would
# otherwise take nearly all of the teacher's probability
LABEL_FREE_LOSS = "kl"
PSEUDO_TEMPERATURE = 0.2
FINE_TUNE_LR = 5e-5  # --fine-tune auto's second stage (eval/results/sweeps/*-fine-tune)
POOL_SIZE = 20_000  # --negatives pool (negatives.py): 2,000 lost 0.010 nDCG@10 at 1M documents (docs/scale.md)


@dataclass
class TrainConfig:
    index: str
    output: str
    encoder: str = None                 # default: the document encoder in the index's meta.json
    train: str = None                   # queries + qrels (default: the shipped SciFact's train/fit)
    dev: str = None                     # (default: the shipped SciFact's train/dev)
    teacher: str = None                 # the flat index the PQ index came from: label-free training (teacher.py)
    queries: str = None                 # --teacher: real queries without qrels (default: generated ones)
    pseudo_queries: int = None          # --teacher: how many queries to generate from the corpus
    corpus: str = None                  # their documents (default: the corpus the teacher records)
    watch: str = None                   # a labelled split scored each epoch for the log only, never selecting
    target: str = "pq"                  # pq | flat
    loss: str = None                    # pairwise | pairwise-wnorm | ce; mse: centroids fit by reconstruction;
                                        # kl with --teacher (default: pairwise, kl label-free)
    positives: str = "all"              # all | one (one per query per step, sampled: worse on NFCorpus dev)
    negatives: str = "dynamic"          # dynamic | static | random | pool (dynamic within a top --pool-size mined once)
    pool_size: int = None               # --negatives pool: documents mined per query at the start (default 20,000)
    neg_topk: int = 200
    mining: str = "auto"                # torch | faiss | faiss-gpu | auto: how the top k is retrieved (retrieval.py)
    mining_threshold: int = FAISS_ABOVE # auto: faiss above this many documents (on a CPU)
    lambda_cut: int = 200               # 0: no cut
    temperature: float = None           # default 0.05; label-free with pseudo-queries 0.2
    centroid_training: bool = True
    epochs: int = 10
    batch_size: int = 32
    fine_tune: str = None               # auto | joint | off: when the transformer trains (default auto, label-free off):
                                        # auto: the head and centroids first on the frozen transformer, then the
                                        # transformer too, kept only if dev rises; joint: from the first step
    fine_tune_epochs: int = 3           # --fine-tune auto: epochs of its second stage
    fine_tune_layers: int = None        # the transformer's top N blocks train, the rest and the embeddings stay
                                        # frozen (default: all)
    lr: float = None                    # the transformer's (default FINE_TUNE_LR; 0 freezes it, as --fine-tune off)
    query_head: str = "linear"          # linear | none: a trained linear map after the encoder
    head_lr: float = 1e-3
    centroid_lr: float = None           # default by M, as the paper: 5e-6 (M<=24), 2e-5 (M=32), 1e-4 (M>=48)
    weight_decay: float = 0.01
    warmup_steps: int = 23              # linear warm-up, in optimizer steps (the paper: 2,000 on MS MARCO)
    patience: int = None                # stop after this many epochs without a dev improvement (0: never;
                                        # default 2, label-free 0)
    backoff: float = 0.05               # after an epoch whose dev nDCG@10 falls more than backoff_margin below
    backoff_margin: float = 0.01        # the best: back to the best weights, encoder lr times backoff (0: off)
                                        # (1e-4 -> 5e-6, near the best rates of eval/sweeps/nfcorpus-lr.yaml)
    clip: float = 1.0                   # gradient norm of the query encoder
    query_max_length: int = QUERY_MAX_LENGTH
    flat: str = None                    # flat index dir for --loss mse (default: the PQ index's source)
    save_steps: int = 0
    select: str = "dev"                 # dev: the dev-best epoch (0 = untrained) | last: the last, as the reference
    dropout: float = None               # override the encoder's dropout (0 makes steps deterministic)
    seed: int = 42
    device: str = None

    def check(self):
        """The defaults that depend on labels filled in; one line naming the flag for a setting
        that would train silently wrong."""
        label_free, pseudo = bool(self.teacher), bool(self.teacher) and not self.queries
        for name, labelled, free in (("loss", "pairwise", LABEL_FREE_LOSS), ("patience", 2, 0),
                                     ("temperature", 0.05, PSEUDO_TEMPERATURE if pseudo else 0.05)):
            if getattr(self, name) is None:
                setattr(self, name, free if label_free else labelled)
        if self.fine_tune is None:  # --lr alone: 0 freezes the transformer, a rate trains it (label-free: from the start)
            self.fine_tune = ("off" if self.lr == 0 or label_free and self.lr is None else
                              "joint" if label_free else "auto")
        if self.fine_tune not in ("auto", "joint", "off"):
            raise UsageError(f"--fine-tune {self.fine_tune}: expected auto, joint or off")
        if self.lr is None:
            self.lr = 0.0 if self.fine_tune == "off" else FINE_TUNE_LR
        elif (self.lr > 0) != (self.fine_tune != "off"):
            raise UsageError(f"--lr {self.lr} with --fine-tune {self.fine_tune}: the transformer trains only with "
                             f"--fine-tune auto or joint, and then at a rate > 0")
        def need(ok, flag, value, what):
            if not ok:
                raise UsageError(f"--{flag} {value}: expected {what}")
        if self.negatives == "pool" and self.pool_size is None:
            self.pool_size = POOL_SIZE
        elif self.negatives != "pool" and self.pool_size is not None:
            raise UsageError(f"--pool-size {self.pool_size}: only --negatives pool takes it")
        for name in ("epochs", "fine_tune_epochs", "batch_size", "neg_topk", "query_max_length", "mining_threshold") + (
                ("pool_size",) if self.pool_size is not None else ()):
            value = getattr(self, name)
            need(isinstance(value, int) and value >= 1, name.replace("_", "-"), value, "a positive integer")
        need(self.fine_tune_layers is None or (isinstance(self.fine_tune_layers, int) and self.fine_tune_layers >= 1),
             "fine-tune-layers", self.fine_tune_layers, "a positive integer")
        for name in ("lambda_cut", "warmup_steps", "patience", "save_steps"):
            value = getattr(self, name)
            need(isinstance(value, int) and value >= 0, name.replace("_", "-"), value, "an integer >= 0")
        need(math.isfinite(self.clip) and self.clip > 0, "clip", self.clip, "a finite number > 0")
        need(0 <= self.backoff < 1, "backoff", self.backoff, "a factor in [0, 1)")
        need(math.isfinite(self.backoff_margin) and self.backoff_margin >= 0, "backoff-margin", self.backoff_margin,
             "a finite number >= 0")
        for name in ("lr", "head_lr", "centroid_lr", "weight_decay"):
            value = getattr(self, name)
            need(value is None or (math.isfinite(value) and value >= 0), name.replace("_", "-"), value,
                 "a finite number >= 0")
        need(math.isfinite(self.temperature) and self.temperature > 0, "temperature", self.temperature,
             "a finite number > 0")
        need(self.dropout is None or 0 <= self.dropout < 1, "dropout", self.dropout, "a rate in [0, 1)")
        if self.loss == "kl" and not self.teacher:
            raise UsageError("--loss kl distils a teacher's ranking: pass --teacher FLAT_DIR")
        if self.loss not in ("mse", "kl") and self.loss not in RANKING_LOSSES:
            raise UsageError(f"--loss {self.loss}: expected {', '.join(RANKING_LOSSES)}, kl (with --teacher) or mse")
        if self.teacher:
            if self.queries and self.train:
                raise UsageError(f"--queries {self.queries} with --train {self.train}: label-free training takes "
                                 f"queries without qrels, labelled training takes --train; pass one")
            if self.train or self.dev:  # measured: eval/results/labelfree/labels.md
                raise UsageError("--teacher with --train/--dev: the teacher's ranking added to the labels lowered dev "
                                 "nDCG@10 on SciFact and NFCorpus at M=16 and 48 (by 0.04 to 0.12), so training "
                                 "takes labels or a teacher, not both")
            if self.queries and self.pseudo_queries:
                raise UsageError("--queries and --pseudo-queries: pass one (real queries, or generated ones)")
            need(self.pseudo_queries is None or (isinstance(self.pseudo_queries, int) and self.pseudo_queries >= 1),
                 "pseudo-queries", self.pseudo_queries, "a positive integer")
        else:
            for flag, value in (("queries", self.queries), ("pseudo-queries", self.pseudo_queries),
                                ("corpus", self.corpus)):
                if value is not None:
                    raise UsageError(f"--{flag} {value}: only label-free training (--teacher FLAT_DIR) takes it")
            self.train = self.train or "jpq-pyserini/scifact/train/fit"
            self.dev = self.dev or "jpq-pyserini/scifact/train/dev"
        if self.select not in ("dev", "last"):
            raise UsageError(f"--select {self.select}: expected dev or last")
        if self.query_head not in ("linear", "none"):
            raise UsageError(f"--query-head {self.query_head}: expected linear or none")
        if self.lr == 0 and self.query_head == "none" and not (self.target == "pq" and self.centroid_training):
            raise UsageError("--query-head none with --lr 0 and no centroid training: nothing to train")
        if self.loss == "mse" and self.target != "pq":
            raise UsageError("--loss mse trains centroids and needs --target pq")
        return self

    # Changing any of these makes a checkpoint incompatible with the run.
    def fingerprint(self):
        # epochs stays: it shapes the learning-rate schedule. The mining path may change on
        # --resume (a run moved to a GPU machine): on PQ and fast-scan indexes both are exact.
        skip = {"output", "device", "save_steps", "mining", "mining_threshold"}
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}


# --preset paper: the reference implementation's settings, jingtaozhan/JPQ jpq/run_train.py
# (commit 16ba1a0) and its README; each value with the line it comes from. The centroid lr by
# M is already the default (README: "5e-6 for M = 16/24, 2e-5 for M = 32, and 1e-4 for M =
# 48/64/96"), as are the paper's loss, every relevant document and dynamic top-200 negatives.
PAPER = {
    "query_head": ("none", "the reference trains RobertaDot itself: no head"),
    "fine_tune": ("joint", "the reference's one optimizer holds the encoder from the first step"),
    "lr": (5e-6, 'parser.add_argument("--lr", default=5e-6, type=float)'),
    "temperature": (1.0, "compute_loss: torch.log(1 + torch.exp(pair_diff)), no temperature"),
    "warmup_steps": (2000, 'parser.add_argument("--warmup_steps", default=2000, type=int)'),
    "epochs": (6, 'parser.add_argument("--num_train_epochs", default=6, type=int)'),
    "batch_size": (32, 'parser.add_argument("--train_batch_size", type=int, default=32)'),
    "neg_topk": (200, 'parser.add_argument("--loss_neg_topK", type=int, default=200)'),
    "lambda_cut": (200, 'README: "lambda_cut should be set to 200 for passage ranking task"'),
    "weight_decay": (0.01, 'parser.add_argument("--weight_decay", default=0.01, type=float)'),
    "clip": (1.0, 'parser.add_argument("--max_grad_norm", default=1.0, type=float)'),
    "query_max_length": (32, 'parser.add_argument("--max_seq_length", type=int, default=32)'),
    "seed": (42, "parser.add_argument('--seed', type=int, default=42)"),
    "select": ("last", "save_model(..., f'epoch-{epoch_idx+1}') every epoch; no dev split"),
    "patience": (0, "no early stopping: num_train_epochs epochs"),
    "backoff": (0.0, "no back-off"),
}
PRESETS = {"paper": PAPER}


def default_centroid_lr(m):
    return 5e-6 if m <= 24 else 2e-5 if m <= 32 else 1e-4


# ---------------------------------------------------------------- distributed
def dist_info(device):
    """(rank, world, device): under torchrun each CUDA rank takes the GPU its LOCAL_RANK names."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and device.startswith("cuda"):
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(device)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    rank = torch.distributed.get_rank() if world > 1 else 0
    return rank, world, device


def all_reduce_grads(params, world):
    if world > 1:
        for p in params:
            if p.grad is None:  # a rank whose slice of the batch was empty still joins
                p.grad = torch.zeros_like(p)
            torch.distributed.all_reduce(p.grad)


# ---------------------------------------------------------------- setup
def load_scorer(cfg, device):
    """(faiss index, docids, meta, scorer, assignment): a PQ codebook (trainable centroids, fixed
    codes and rotation) and the centroids its codes were assigned with, which the exported index
    keeps (faiss mining writes the current centroids into the index as training goes); or, for
    ``--target flat``, the flat vectors and None."""
    index, docids, meta = read_index_dir(cfg.index)
    if cfg.target == "flat":
        return index, docids, meta, FlatScorer(flat_vectors(index)).to(device), None
    if meta.get("kind") == "flat":
        raise UsageError(f"--index {cfg.index}: a flat index; JPQ trains a PQ index (or pass --target flat)")
    pq = pq_parts(index, meta, cfg.index, "--index")[1].pq
    scorer = PQCodebook.from_faiss(index).to(device)
    scorer.centroids.requires_grad_(cfg.centroid_training)
    return index, docids, meta, scorer, read_assignment(cfg.index, pq, "--index")


def load_query_encoder(cfg, meta, dim, device):
    """The query encoder starts from the document encoder (or the trained query encoder of an
    index that train wrote), with the query length of the paper."""
    encoder = TextEncoder(cfg.encoder or meta.get("query_encoder") or meta.get("encoder") or DEFAULT_ENCODER, device)
    encoder.config = dataclasses.replace(encoder.config, max_length=cfg.query_max_length)
    if cfg.dropout is not None:
        set_dropout(encoder.model, cfg.dropout)
    if encoder.dim != dim:
        raise UsageError(f"--encoder {encoder.source}: produces {encoder.dim}-dimensional vectors "
                         f"but the index holds {dim} dimensions")
    return encoder


def reconstruction_targets(cfg, meta, docids, device):
    """``--loss mse``: the document vectors the centroids are fitted to (k-means' objective)."""
    flat_dir = cfg.flat or meta.get("source_index")
    if not flat_dir:
        raise UsageError("--loss mse needs the document vectors: pass --flat FLAT_INDEX_DIR")
    flat_index, flat_docids, _ = read_index_dir(flat_dir, "--flat")
    if flat_docids != docids:
        raise UsageError(f"--flat {flat_dir}: its docids differ from the index's")
    return torch.as_tensor(flat_vectors(flat_index)).to(device)


QUERY_SIDE = ("encoder", "encoder-no-decay", "head")  # the groups --backoff lowers


def make_optimizer(cfg, encoder, head, scorer, total_steps):
    """AdamW (no decay on biases, norms and the head, which starts at the identity); the
    transformer (unless frozen), the head and the centroids each get their own learning rate.
    Linear warm-up, then linear decay to 0."""
    def no_decay(name):
        return any(x in name for x in ("bias", "LayerNorm", "norm"))
    groups = []
    if cfg.lr > 0:
        named = [(n, p) for n, p in encoder.model.named_parameters() if p.requires_grad]
        groups += [{"name": "encoder", "params": [p for n, p in named if not no_decay(n)],
                    "weight_decay": cfg.weight_decay, "lr": cfg.lr},
                   {"name": "encoder-no-decay", "params": [p for n, p in named if no_decay(n)],
                    "weight_decay": 0.0, "lr": cfg.lr}]
    if head is not None:
        groups.append({"name": "head", "params": list(head.parameters()), "weight_decay": 0.0, "lr": cfg.head_lr})
    if cfg.target == "pq" and cfg.centroid_training:
        groups.append({"name": "centroids", "params": [scorer.centroids], "weight_decay": 0.0,
                       "lr": cfg.centroid_lr or default_centroid_lr(scorer.M)})
    optimizer = torch.optim.AdamW(groups)
    warmup = max(1, min(cfg.warmup_steps, total_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total_steps - s) / max(1, total_steps - warmup))))
    return optimizer, scheduler, [p for g in groups for p in g["params"]]


BLOCK = re.compile(r"(?:^|\.)(?:layer|layers|h|block)\.(\d+)\.")  # a transformer block's parameters


def freeze_below(model, top, source):
    """``--fine-tune-layers N``: only the top N transformer blocks train. Backward then stops
    N blocks down and the embedding matrix gets no gradient: a step on MiniLM's 6 blocks costs
    half as much with N = 3 (benchmarks/fine_tune_speed.py)."""
    blocks = {int(m.group(1)) for n, _ in model.named_parameters() if (m := BLOCK.search(n))}
    if not blocks:
        raise UsageError(f"--fine-tune-layers {top}: found no numbered transformer blocks in {source}")
    lowest = max(blocks) + 1 - top
    for name, param in model.named_parameters():
        m = BLOCK.search(name)
        if m is None or int(m.group(1)) < lowest:
            param.requires_grad_(False)


def set_dropout(model, p):
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = p
    for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "attention_dropout", "dropout"):
        if hasattr(model.config, name):
            setattr(model.config, name, p)
    for module in model.modules():  # attention layers that read the rate from an attribute
        if hasattr(module, "dropout_prob"):
            module.dropout_prob = p


def pick_positives(rows, mode, seed, step):
    """All relevant rows of a query, or one drawn per step (deterministic in seed and step, so
    a resumed run draws the same ones)."""
    if mode == "all" or len(rows) == 1:
        return rows
    return [random.Random(seed * 1_000_003 + step * 7919 + rows[0]).choice(rows)]


def pad(rows_list, device):
    width = max(len(r) for r in rows_list)
    out = torch.full((len(rows_list), width), -1, dtype=torch.long)
    for i, r in enumerate(rows_list):
        out[i, :len(r)] = torch.as_tensor(r)
    return out.to(device)


def start_or_resume(run, resume, last, best_dir):
    """(step, best, best weights): from the last checkpoint, or a fresh output dir at step 0."""
    if resume:
        step, best = checkpoint.load(last, run, run.cfg.fingerprint())
        return step, best, checkpoint.read_weights(best_dir) if best_dir.is_dir() else None
    if run.rank == 0:
        run.out.mkdir(parents=True, exist_ok=True)
        (run.out / "train_config.json").write_text(json.dumps(dataclasses.asdict(run.cfg), indent=2) + "\n")
        (run.out / "train_log.jsonl").write_text("")
    return 0, None, None


# ---------------------------------------------------------------- one training run
@dataclass
class Run:
    """Everything the loop touches, built once by ``setup``."""
    cfg: TrainConfig
    out: Path                           # where this run writes (beside ``final`` when replacing it)
    final: Path                         # --output
    rank: int
    world: int
    index: object                       # the faiss index (codes, rotation) the scorer came from
    docids: list
    meta: dict
    scorer: object                      # retrieval.Scorer: PQCodebook or FlatScorer
    encoder: TextEncoder
    head: object                        # QueryHead, or None (--query-head none)
    frozen: dict                        # qid -> the frozen transformer's output (None: it trains)
    train: object                       # datasets.JudgedQueries (label-free: the teacher's top documents)
    dev: object                         # (label-free: held-out queries, the teacher's top 10 as relevant)
    steps_per_epoch: int
    optimizer: object
    scheduler: object
    params: list
    retriever: Retriever                # the current model's top k: negatives and dev evaluation
    sampler: NegativeSampler
    targets: object = None              # --loss mse: the document vectors
    assignment: object = None           # the centroids the codes were assigned with (None: --target flat)
    teacher: object = None              # teacher.Teacher: the uncompressed index's lists (--teacher)
    watch: object = None                # --watch: a labelled split, logged only

    @property
    def total_steps(self):
        return self.steps_per_epoch * self.cfg.epochs


def check_output(cfg, resume, overwrite, rank=0):
    """--output's real path, checked by rank 0 (the only one that writes). A fresh run writes
    into it directly, so that ``--resume`` finds its checkpoints after a kill; ``--overwrite``
    of a previous output builds the new one beside it and swaps at the end, so a killed
    retrain leaves the old output whole."""
    final = Path(cfg.output)
    if rank > 0:
        return final
    if resume:
        fsutil.lock_output(final)
        fsutil.recover(final / "checkpoints" / "last")  # a save that a kill cut short
        if not (final / "checkpoints" / "last").is_dir():
            raise UsageError(f"--resume: no checkpoint in {final / 'checkpoints' / 'last'}")
        return final
    return check_output_dir(final, overwrite, inputs=[("--index", cfg.index), ("--flat", cfg.flat),
                                                       ("--encoder", cfg.encoder)])


def setup(cfg, resume, overwrite):
    cfg.check()
    rank, world, device = dist_info(resolve_device(cfg.device))
    final = check_output(cfg, resume, overwrite, rank)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)

    index, docids, meta, scorer, assignment = load_scorer(cfg, device)
    encoder = load_query_encoder(cfg, meta, index.d, device)
    head = None
    if cfg.query_head == "linear":  # a trained encoder's own head trains on; it runs beside the encoder here
        head, encoder.head = (encoder.head or QueryHead(index.d)).to(device), None
    targets = reconstruction_targets(cfg, meta, docids, device) if cfg.loss == "mse" else None
    docid_to_row = {d: i for i, d in enumerate(docids)}
    teacher_lists = None
    if cfg.teacher:  # label-free: the teacher labels the queries
        train, dev, teacher_lists = label_free_splits(cfg, encoder, docids, index.d, device)
    else:
        train, dev = judged_queries(cfg.train, docid_to_row, "--train"), judged_queries(cfg.dev, docid_to_row, "--dev")
    if set(train.qids) & set(dev.qids):
        raise UsageError(f"--train {cfg.train} and --dev {cfg.dev} share queries; model selection needs a held-out dev set")
    watch = judged_queries(cfg.watch, docid_to_row, "--watch") if cfg.watch else None
    frozen = None
    if cfg.lr > 0 and cfg.fine_tune_layers:
        freeze_below(encoder.model, cfg.fine_tune_layers, encoder.source)
    if cfg.lr == 0:  # the transformer's output never changes: compute it once per query
        encoder.model.requires_grad_(False)
        splits = [train, dev] + ([watch] if watch else [])
        qids, texts = [q for sp in splits for q in sp.qids], {k: v for sp in splits for k, v in sp.texts.items()}
        frozen = dict(zip(qids, torch.as_tensor(encoder.encode([texts[i] for i in qids])).to(device)))
    steps_per_epoch = math.ceil(len(train.qids) / cfg.batch_size)
    optimizer, scheduler, params = make_optimizer(cfg, encoder, head, scorer, steps_per_epoch * cfg.epochs)
    retriever = Retriever(scorer, index, cfg.mining, cfg.mining_threshold, device)
    sampler = NegativeSampler(retriever, cfg.negatives, cfg.neg_topk, seed=cfg.seed, pool=cfg.pool_size or 0)
    if cfg.negatives in ("static", "pool") and resume:  # the lists came from the initial model
        raise UsageError(f"--resume is not supported with --negatives {cfg.negatives}")
    replacing = not resume and rank == 0 and final.is_dir() and any(final.iterdir())
    out = fsutil.temp_dir_for(final) if replacing else final
    run = Run(cfg, out, final, rank, world, index, docids, meta, scorer, encoder, head, frozen, train, dev,
              steps_per_epoch, optimizer, scheduler, params, retriever, sampler, targets, assignment, teacher_lists,
              watch)
    if cfg.negatives in ("static", "pool"):
        with torch.no_grad():
            sampler.mine(train.qids, queries(run, train, train.qids, training=False))
    return run


def label_free_splits(cfg, encoder, docids, dim, device):
    """(train, held-out, teacher.Teacher) from real queries without qrels or generated ones."""
    vectors, teacher_meta = teacher.load_vectors(cfg.teacher, docids, dim)
    if cfg.queries:
        queries_, source = teacher.real_queries(cfg.queries), f"--queries {cfg.queries}"
    else:
        corpus = cfg.corpus or teacher_meta.get("corpus")
        if not corpus:
            raise UsageError(f"--teacher {cfg.teacher}: records no corpus to generate queries from; pass --corpus")
        n = cfg.pseudo_queries or teacher.DEFAULT_PSEUDO_QUERIES
        queries_ = teacher.pseudo_queries(corpus, n, cfg.seed, "--corpus" if cfg.corpus else "--teacher's corpus")
        source = f"{len(queries_)} pseudo-queries from {corpus} (one sentence of a sampled document)"
    train, held, lists = teacher.splits(queries_, encoder, vectors.to(device), docids, cfg.seed)
    if not train.qids:
        raise UsageError(f"{source}: too few queries to train on and hold some out (got {len(queries_)})")
    lists.source = source
    return train, held, lists


def queries(run, split, qids, training=True):
    """Query vectors of the current model: the transformer (its cached output when frozen; in
    eval mode and without gradients unless ``training``), then the head."""
    if run.frozen is not None:
        q = torch.stack([run.frozen[i] for i in qids])
    elif training:
        q = run.encoder([split.texts[i] for i in qids], run.cfg.query_max_length)
    else:
        q = text_queries(run.encoder, split)(qids)
    return q if run.head is None else run.head(q)


def batch_loss(run, batch, global_size, step, timing):
    """Forward and backward for this rank's slice of one global batch; returns the loss."""
    cfg, scorer, device = run.cfg, run.scorer, run.encoder.device
    # 1. the queries under the current query encoder and head (gradients on)
    q = queries(run, run.train, batch)
    relevant = pad([run.train.positives[i] for i in batch], device)
    positives = pad([pick_positives(run.train.positives[i], cfg.positives, cfg.seed, step) for i in batch], device)
    # 2. negatives and ranks from the current PQ index (idea 3)
    t0 = time.perf_counter()
    neg_rows, neg_mask, pos_rank, neg_rank = run.sampler.sample(batch, q.detach(), positives, relevant)
    timing["sample"] += time.perf_counter() - t0
    # 3. PQ scores with trainable centroids (idea 2) under the ranking loss (idea 1)
    if cfg.loss == "kl":  # label-free: the teacher's list and the student's own top k, listwise
        per_query = distill_loss(run, batch, q, neg_rows, neg_mask)
    else:
        pos_s = scorer.score_pairs(q, positives.clamp(min=0))
        neg_s = scorer.score_pairs(q, neg_rows)
        ranking_loss = RANKING_LOSSES.get(cfg.loss, RANKING_LOSSES["pairwise"])
        per_query = ranking_loss(pos_s, neg_s, (positives >= 0).float(), neg_mask, pos_rank=pos_rank,
                                 neg_rank=neg_rank, lambda_cut=cfg.lambda_cut, temperature=cfg.temperature)
    loss = per_query.sum() / global_size  # the batch mean, also across ranks
    loss.backward()
    if run.targets is not None:  # --loss mse: centroids fit the document vectors only
        scorer.centroids.grad = None
        rows = torch.randint(scorer.ntotal, (4096,), device=device)
        rec = reconstruction_loss(scorer.reconstruct(rows), scorer.rotate(run.targets[rows]))
        (rec * len(batch) / global_size).backward()
    return loss.detach()


def distill_loss(run, batch, q, student_rows, student_mask):
    """Per query: the listwise distillation loss over the teacher's top k and the student's
    current top k (those not already in the teacher's list)."""
    device, teacher_ = q.device, run.teacher
    t_rows = torch.stack([teacher_.top[i] for i in batch]).to(device)
    rows = torch.cat([t_rows, student_rows], 1)
    fresh = ~(student_rows.unsqueeze(2) == t_rows.unsqueeze(1)).any(2)
    mask = torch.cat([torch.ones_like(t_rows, dtype=torch.bool), fresh & student_mask], 1)
    t_q = torch.stack([teacher_.query[i] for i in batch]).to(device)
    t_scores = torch.einsum("bd,bnd->bn", t_q, teacher_.vectors[rows].to(device))
    return listwise_distill_loss(run.scorer.score_pairs(q, rows), t_scores, mask, run.cfg.temperature)


def train_jpq(cfg: TrainConfig, resume=False, overwrite=False, progress=True, stop_after=None):
    """Train and export; returns the summary (None on ranks > 0, or when ``stop_after`` N steps
    ended the run early as a kill would: checkpoint written, nothing exported)."""
    cfg.check()
    if cfg.fine_tune != "auto":
        return train_once(cfg, resume, overwrite, progress, stop_after)
    return stages.train_in_stages(cfg, train_once, resume, overwrite, progress, stop_after)


def train_once(cfg, resume=False, overwrite=False, progress=True, stop_after=None):
    """One run of the loop below with one set of trainable parameters."""
    run = setup(cfg, resume, overwrite)
    try:
        summary = _train(run, cfg, resume, progress, stop_after)
    except BaseException:
        if run.out != run.final:  # the old output stays as it was
            shutil.rmtree(run.out, ignore_errors=True)
        raise
    if summary is not None and run.out != run.final:
        fsutil.replace_dir(run.out, run.final)
    return summary


def _train(run, cfg, resume, progress, stop_after):
    from tqdm import tqdm

    out, rank, world, encoder = run.out, run.rank, run.world, run.encoder
    last, best_dir = out / "checkpoints" / "last", out / "checkpoints" / "best"
    step, best, best_state = start_or_resume(run, resume, last, best_dir)

    def end_of_epoch(epoch, record):
        """Dev metrics, the epoch to export (the dev-best, epoch 0 = the untrained model; or
        with ``--select last`` each epoch in turn), log line."""
        nonlocal best, best_state
        t0 = time.perf_counter()
        dev = {f"dev_{k}": v for k, v in evaluate_dev(lambda qids: queries(run, run.dev, qids, training=False),
                                                      run.retriever, run.dev, run.docids).items()}
        dev_seconds = round(time.perf_counter() - t0, 2)
        if run.watch is not None:  # logged, never compared
            dev.update({f"watch_{k}": v for k, v in evaluate_dev(lambda qids: queries(run, run.watch, qids, training=False),
                                                                 run.retriever, run.watch, run.docids).items()})
        with open(out / "train_log.jsonl", "a") as f:
            f.write(json.dumps({"epoch": epoch, "step": step, **record, **dev, "dev_seconds": dev_seconds}) + "\n")
        if best is None or dev["dev_ndcg@10"] > best["ndcg@10"] or cfg.select == "last":
            start = dev["dev_ndcg@10"] if best is None else best["start_ndcg@10"]
            best = {**dev, "ndcg@10": dev["dev_ndcg@10"], "epoch": epoch, "start_ndcg@10": start}
            best_state = checkpoint.snapshot(run)
            checkpoint.write_weights(best_dir, best_state)
        return dev["dev_ndcg@10"]

    def save():
        checkpoint.save(last, run, step, best, cfg.fingerprint())

    if step == 0 and rank == 0:
        end_of_epoch(0, {})
    timing = {"sample": 0.0, "total": 0.0}
    bar = tqdm(total=run.total_steps, initial=step, desc="jpq train", disable=not progress or rank != 0, unit="step")
    encoder.model.train()
    while step < run.total_steps:
        epoch, in_epoch = divmod(step, run.steps_per_epoch)
        order = torch.randperm(len(run.train.qids), generator=torch.Generator().manual_seed(cfg.seed + epoch)).tolist()
        for b in range(in_epoch, run.steps_per_epoch):
            t0 = time.perf_counter()
            batch = [run.train.qids[i] for i in order[b * cfg.batch_size:(b + 1) * cfg.batch_size]]
            global_size, batch = len(batch), batch[rank::world]
            loss = batch_loss(run, batch, global_size, step, timing) if batch else torch.zeros((), device=encoder.device)
            all_reduce_grads(run.params, world)
            # the reference clips the query side only: the centroids have their own learning rate
            torch.nn.utils.clip_grad_norm_(query_params(run), cfg.clip)
            run.optimizer.step()
            run.scheduler.step()
            run.optimizer.zero_grad(set_to_none=True)
            step += 1
            timing["total"] += time.perf_counter() - t0
            if world > 1:
                torch.distributed.all_reduce(loss)
            bar.set_postfix(loss=f"{loss.item():.4f}")
            bar.update(1)
            mid_epoch = step % run.steps_per_epoch != 0
            if rank == 0 and mid_epoch and ((cfg.save_steps and step % cfg.save_steps == 0)
                                            or (stop_after and step >= stop_after)):
                save()
            if stop_after and step >= stop_after and mid_epoch:
                return None
        dev_ndcg = None
        if rank == 0:
            dev_ndcg = end_of_epoch(epoch + 1, {"loss": round(loss.item(), 5), "seconds": round(timing["total"], 1),
                                                "sample_seconds": round(timing["sample"], 1),
                                                **{f"{g['name']}_lr": lr for g, lr in
                                                   zip(run.optimizer.param_groups, run.scheduler.base_lrs)
                                                   if g["name"] in ("encoder", "head")}})
        if cfg.backoff and fell_behind(rank, world, dev_ndcg, best, cfg.backoff_margin):
            back_off(run, best_state, cfg.backoff)
            if rank == 0:  # the lower rate gets its own --patience epochs
                best["patience_from"] = epoch + 1
        if rank == 0:
            save()
        if stop_after and step >= stop_after:
            return None
        if early_stop(cfg, rank, world, epoch + 1, best):
            break
    bar.close()
    if rank != 0:
        return None
    checkpoint.restore(run, best_state)
    return export(cfg, run, best, {**timing, "steps": step, "steps_per_epoch": run.steps_per_epoch})


def query_params(run):
    return [p for g in run.optimizer.param_groups if g["name"] in QUERY_SIDE for p in g["params"]]


def fell_behind(rank, world, dev_ndcg, best, margin):
    """Did the epoch just done fall more than ``margin`` below the best dev nDCG@10 (more than
    epoch-to-epoch noise)? Rank 0 knows; every rank learns it."""
    flag = torch.tensor(float(rank == 0 and best["ndcg@10"] - dev_ndcg > margin))
    if world > 1:
        torch.distributed.broadcast(flag, 0)
    return bool(flag.item())


def back_off(run, best_state, factor):
    """``--backoff``: return to the dev-best weights, restart the optimizer's moments and go on
    with the encoder's learning rate times ``factor``. A collection whose relevance labels pull
    the query encoder away from what dev rewards (NFCorpus) then trains it gently, while one
    whose dev keeps rising (SciFact) never backs off."""
    if run.rank == 0:
        checkpoint.restore(run, best_state)
    if run.world > 1:  # only rank 0 holds the best weights
        for p in run.params:
            torch.distributed.broadcast(p.data, 0)
    run.optimizer.state.clear()
    for i, group in enumerate(run.optimizer.param_groups):
        if group["name"] in QUERY_SIDE:
            group["lr"] *= factor
            run.scheduler.base_lrs[i] *= factor


def early_stop(cfg, rank, world, epochs_done, best):
    """``--patience``: stop after that many epochs without a new best, counted from the best
    epoch or the last back-off, whichever came later. Rank 0 decides (it holds the dev scores);
    every rank leaves together."""
    since = best.get("patience_from", best["epoch"]) if rank == 0 else 0
    stop = torch.tensor(float(rank == 0 and cfg.patience > 0 and epochs_done - since >= cfg.patience))
    if world > 1:
        torch.distributed.broadcast(stop, 0)
    if stop.item() and rank == 0:
        print(f"early stop after epoch {epochs_done}: no dev improvement for {cfg.patience} epochs", file=sys.stderr)
    return bool(stop.item())


def peak_rss_gib():
    """This process's peak resident memory since it started (Linux's VmHWM, which exec resets,
    unlike getrusage's maxrss, which counts the parent's pages before exec); None elsewhere."""
    try:
        with open("/proc/self/status") as f:
            kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        return round(kib / 2**20, 2)
    except (OSError, StopIteration, ValueError):
        return None


def export(cfg, run, best, timing):
    """Write the dev-selected query side (transformer and head) as ``encoder/``, the centroids
    as ``index/`` (a plain PQ index with the assignment centroids its codes came from, so that
    ``index --codebook`` quantizes new documents as these were) and ``train_summary.json``,
    saying plainly whether training helped on dev."""
    out, encoder, scorer, index = run.out, run.encoder, run.scorer, run.index
    start = best["start_ndcg@10"]
    if cfg.select == "last":
        improved = best["ndcg@10"] > start
        verdict = (f"exported the last epoch ({best['epoch']}), as --select last asks: dev nDCG@10 {start:.4f} "
                   f"before training, {best['ndcg@10']:.4f} after")
    else:
        improved = best["epoch"] > 0
        verdict = (f"improved dev nDCG@10 from {start:.4f} to {best['ndcg@10']:.4f} (epoch {best['epoch']})" if improved
                   else f"training did not improve on dev (nDCG@10 {start:.4f}): exported the untrained model")
    supervision = supervision_record(cfg, run)
    if not supervision["labels"]:
        verdict = verdict.replace("dev nDCG@10", "agreement with the teacher") + f" ({supervision['selection']})"
    if run.head is not None:
        encoder.head = run.head
    with atomic_dir(out / "encoder", overwrite=True) as tmp:
        encoder.save(tmp)
    with atomic_dir(out / "index", overwrite=True) as tmp:
        if run.assignment is not None:
            write_assignment(tmp, run.assignment)
        trained = scorer.write_into(index)  # in place: a copy would be 424 MB more at 8.8M x 48
        write_index_dir(tmp, trained, run.docids, {
            **inherited(run.meta, drop=("query_encoder",)),
            "jpq": cfg.target == "pq", "source_index": str(cfg.index),
            "doc_encoder": run.meta.get("doc_encoder") or run.meta.get("encoder"),
            "query_encoder": str(run.final / "encoder"),
            "train": {"best_epoch": best["epoch"], "dev_ndcg@10": best["ndcg@10"], "dev_ndcg@10_start": start,
                      "improved": improved, "verdict": verdict, "loss": cfg.loss, "negatives": cfg.negatives,
                      "query_head": cfg.query_head, "encoder_trained": cfg.lr > 0,
                      "centroid_training": cfg.target == "pq" and cfg.centroid_training, "target": cfg.target,
                      **supervision}})
    steps, per_epoch = timing["steps"], timing["steps_per_epoch"]
    summary = {"best": best, "dev_ndcg@10_start": start, "improved": improved, "verdict": verdict, **supervision,
               "seconds": round(timing["total"], 1), "sample_seconds": round(timing["sample"], 1), "steps": steps,
               "epochs_run": math.ceil(steps / per_epoch),
               "seconds_per_epoch": round(timing["total"] * per_epoch / max(1, steps), 1),
               "peak_rss_gib": peak_rss_gib()}
    with atomic_file(out / "train_summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def supervision_record(cfg, run):
    """What trained the model and what selected it, for meta.json and train_summary.json."""
    if run.teacher is None:
        return {"labels": True, "queries": cfg.train, "selection": f"dev nDCG@10 on {cfg.dev}"}
    return {"labels": False, "teacher": cfg.teacher, "queries": run.teacher.source,
            "selection": f"nDCG@10 against the teacher's top {teacher.AGREEMENT_DEPTH} on {len(run.dev.qids)} "
                         f"held-out queries"}


def build_parser():
    p = Parser(prog="jpq-pyserini train", description=__doc__.splitlines()[0],
               formatter_class=argparse.RawDescriptionHelpFormatter,
               epilog="--preset paper, from jingtaozhan/JPQ jpq/run_train.py (commit 16ba1a0) and its README:\n"
                      + "\n".join(f"  --{k.replace('_', '-')} {v}: {line}" for k, (v, line) in PAPER.items()))
    d = TrainConfig(index="", output="").check()  # the labelled defaults, for the help
    p.add_argument("--index", required=True, help="PQ index dir (or a flat one with --target flat)")
    p.add_argument("--output", required=True, help="training output dir")
    p.add_argument("--encoder", default=None, help="initial query encoder (default: the index's document encoder)")
    p.add_argument("--train", default=None,
                   help="training queries + qrels (ir_datasets id, folder or file; default jpq-pyserini/scifact/train/fit)")
    p.add_argument("--dev", default=None,
                   help="dev queries + qrels for epoch selection (default jpq-pyserini/scifact/train/dev)")
    p.add_argument("--teacher", default=None,
                   help="label-free: the flat index the PQ index was built from; its ranking is distilled")
    p.add_argument("--queries", default=None, help="with --teacher: real queries, no qrels (ir_datasets id, folder, file)")
    p.add_argument("--pseudo-queries", type=positive_int, default=None,
                   help=f"with --teacher: generate this many queries from the corpus (default, without --queries: "
                        f"{teacher.DEFAULT_PSEUDO_QUERIES})")
    p.add_argument("--corpus", default=None, help="the pseudo-queries' documents (default: the teacher's corpus)")
    p.add_argument("--watch", default=None,
                   help="a labelled split scored every epoch into train_log.jsonl, never used for selection")
    p.add_argument("--target", choices=["pq", "flat"], default=d.target)
    p.add_argument("--loss", choices=["pairwise", "pairwise-wnorm", "ce", "kl", "mse"], default=None,
                   help="pairwise (default); kl: listwise distillation of --teacher's ranking (the label-free default)")
    p.add_argument("--positives", choices=["all", "one"], default=d.positives,
                   help="relevant documents per query and step: all, or one sampled")
    p.add_argument("--negatives", choices=["dynamic", "static", "random", "pool"], default=d.negatives,
                   help="dynamic: each step's top --neg-topk from the current index (the paper); pool: each "
                        "step's top --neg-topk within a top --pool-size mined once (large corpora); static, "
                        "random: ablations")
    p.add_argument("--pool-size", type=positive_int, default=None,
                   help=f"--negatives pool: documents mined per query at the start (default {POOL_SIZE})")
    p.add_argument("--neg-topk", type=positive_int, default=d.neg_topk)
    p.add_argument("--mining", choices=MINING, default=d.mining,
                   help="top-k retrieval for negatives and dev evaluation: streamed torch ADC, faiss with the "
                        "current centroids, faiss on a GPU, or auto (faiss above --mining-threshold docs on a CPU)")
    p.add_argument("--mining-threshold", type=positive_int, default=d.mining_threshold)
    p.add_argument("--lambda-cut", type=nonneg_int, default=d.lambda_cut)
    p.add_argument("--temperature", type=positive_float, default=None,
                   help=f"score scale of the loss (default {d.temperature}; {PSEUDO_TEMPERATURE} for pseudo-queries)")
    p.add_argument("--no-centroid-training", dest="centroid_training", action="store_false")
    p.add_argument("--epochs", type=positive_int, default=d.epochs)
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size)
    p.add_argument("--fine-tune", choices=["auto", "joint", "off"], default=None,
                   help="when the transformer trains. auto (the default with labels): the head and centroids "
                        "on the frozen transformer first, then the transformer too for --fine-tune-epochs, "
                        "kept only if dev nDCG@10 rises (OUT/fine-tune holds its log); joint: from the first "
                        "step, as the paper; off: frozen (the label-free default)")
    p.add_argument("--fine-tune-epochs", type=positive_int, default=d.fine_tune_epochs)
    p.add_argument("--fine-tune-layers", type=positive_int, default=d.fine_tune_layers,
                   help="train only the transformer's top N blocks (the embeddings and lower blocks stay frozen; "
                        "default: all)")
    p.add_argument("--lr", type=nonneg_float, default=None,
                   help=f"the transformer's learning rate (default {FINE_TUNE_LR:g}; 0: frozen, as --fine-tune off)")
    p.add_argument("--query-head", choices=["linear", "none"], default=d.query_head,
                   help="a linear map after the query encoder, trained with it and saved in OUT/encoder")
    p.add_argument("--head-lr", type=nonneg_float, default=d.head_lr, help="query head learning rate")
    p.add_argument("--centroid-lr", type=nonneg_float, default=None, help="default by M: 5e-6 (<=24), 2e-5 (32), 1e-4 (>=48)")
    p.add_argument("--weight-decay", type=nonneg_float, default=d.weight_decay)
    p.add_argument("--warmup-steps", type=nonneg_int, default=d.warmup_steps, help="linear warm-up steps")
    p.add_argument("--patience", type=nonneg_int, default=None,
                   help=f"stop after N epochs without dev improvement (default {d.patience}; label-free: 0, as the "
                        f"agreement with the teacher moves by less than its noise from epoch to epoch)")
    p.add_argument("--backoff", type=fraction, default=d.backoff,
                   help="after an epoch more than --backoff-margin below the best dev nDCG@10: back to the best "
                        "weights, encoder lr times this (0: off)")
    p.add_argument("--backoff-margin", type=nonneg_float, default=d.backoff_margin)
    p.add_argument("--clip", type=positive_float, default=d.clip)
    p.add_argument("--query-max-length", type=positive_int, default=d.query_max_length)
    p.add_argument("--flat", default=None, help="flat index dir with the document vectors (--loss mse)")
    p.add_argument("--save-steps", type=nonneg_int, default=0, help="also checkpoint every N steps")
    p.add_argument("--dropout", type=fraction, default=None, help="override the encoder's dropout rate")
    p.add_argument("--select", choices=["dev", "last"], default=d.select,
                   help="the epoch exported: the dev-best (epoch 0 = the untrained model), or the last")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="paper: jingtaozhan/JPQ's run_train.py settings (listed below); a flag given "
                        "explicitly wins over its preset value")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT/checkpoints/last")
    p.add_argument("--overwrite", action="store_true")
    return p


def parse_args(argv):
    """The flags, over the preset's values (a flag given explicitly wins over its preset)."""
    parser = build_parser()
    preset = parser.parse_args(argv).preset
    if preset:
        parser.set_defaults(**{k: v for k, (v, _) in PRESETS[preset].items()})
    args = vars(parser.parse_args(argv))
    args.pop("preset")
    return args


@cli("jpq-pyserini train")
def main(argv=None):
    args = parse_args(argv)
    resume, overwrite, threads = args.pop("resume"), args.pop("overwrite"), args.pop("threads")
    if threads:
        torch.set_num_threads(threads)
    cfg = TrainConfig(**args)
    summary = train_jpq(cfg, resume=resume, overwrite=overwrite)
    if summary:
        print(f"{summary['verdict']}; "
              f"{summary['seconds']:.0f} s ({summary['sample_seconds']:.0f} s negative sampling) -> "
              f"{cfg.output}/encoder, {cfg.output}/index", file=sys.stderr)


if __name__ == "__main__":
    main()
