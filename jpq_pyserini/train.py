"""``jpq-pyserini train``: JPQ joint training of the query encoder and the PQ centroids.

The loop composes the paper's three ideas, each in its own module:
  loss.py       ranking-oriented loss on the PQ scores          (idea 1)
  codebook.py   PQ centroids as trainable parameters             (idea 2)
  negatives.py  end-to-end negatives from the current PQ index    (idea 3)
Document codes and the OPQ rotation stay fixed; afterwards the trained centroids are
written back into the faiss index, which Pyserini's stock FaissSearcher loads.

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
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .codebook import FlatScorer, PQCodebook
from .datasets import iter_queries, load_dataset, load_qrels
from .encoder import TextEncoder, resolve_device
from .errors import UsageError, cli
from .fsutil import atomic_dir, atomic_file, check_output_dir
from .indexdir import flat_vectors, inherited, read_index_dir, write_index_dir
from .loss import RANKING_LOSSES, reconstruction_loss
from .negatives import NegativeSampler


@dataclass
class TrainConfig:
    index: str
    output: str
    encoder: str = None                 # default: the document encoder in the index's meta.json
    train: str = "jpq-pyserini/scifact/train/fit"
    dev: str = "jpq-pyserini/scifact/train/dev"
    target: str = "pq"                  # pq | flat
    loss: str = "pairwise"              # pairwise | ce | mse
    negatives: str = "dynamic"          # dynamic | static | random
    neg_topk: int = 200
    lambda_cut: int = 200
    temperature: float = 0.05
    centroid_training: bool = True
    epochs: int = 10
    batch_size: int = 32
    lr: float = 2e-5
    centroid_lr: float = None           # default by M, as the paper: 5e-6 (M<=24), 2e-5 (M=32), 1e-4 (M>=48)
    weight_decay: float = 0.01
    warmup: float = 0.1                 # fraction of all steps
    clip: float = 1.0
    query_max_length: int = 32
    flat: str = None                    # flat index dir for --loss mse (default: the PQ index's source)
    save_steps: int = 0
    dropout: float = None               # override the encoder's dropout (0 makes steps deterministic)
    seed: int = 42
    device: str = None

    # Changing any of these makes a checkpoint incompatible with the run.
    def fingerprint(self):
        skip = {"output", "device", "save_steps", "epochs"}
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}


def default_centroid_lr(m):
    return 5e-6 if m <= 24 else 2e-5 if m <= 32 else 1e-4


# ---------------------------------------------------------------- distributed
def dist_info():
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    rank = torch.distributed.get_rank() if world > 1 else 0
    return rank, world


def all_reduce_grads(params, world):
    if world > 1:
        for p in params:
            if p.grad is None:  # a rank whose slice of the batch was empty still joins
                p.grad = torch.zeros_like(p)
            torch.distributed.all_reduce(p.grad)


# ---------------------------------------------------------------- data
def load_split(spec, docid_to_row, flag):
    ds = load_dataset(spec)
    qrels = load_qrels(ds, spec)
    texts = dict(iter_queries(ds, spec))
    missing = [(q, d) for q, rel in qrels.items() for d, g in rel.items() if g > 0 and d not in docid_to_row]
    if missing:
        raise UsageError(f"{flag} {spec}: {len(missing)} relevant documents are not in the index "
                         f"(first: query {missing[0][0]}, document {missing[0][1]}); was the index built from this corpus?")
    qids = sorted(q for q in qrels if q in texts and any(g > 0 for g in qrels[q].values()))
    if not qids:
        raise UsageError(f"{flag} {spec}: no query has both text and a relevant document")
    positives = {q: [docid_to_row[d] for d, g in qrels[q].items() if g > 0] for q in qids}
    return qids, texts, positives, qrels


def pad(rows_list, device):
    width = max(len(r) for r in rows_list)
    out = torch.full((len(rows_list), width), -1, dtype=torch.long)
    for i, r in enumerate(rows_list):
        out[i, :len(r)] = torch.as_tensor(r)
    return out.to(device)


# ---------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate_dev(encoder, scorer, qids, texts, qrels, docids, k=100):
    from ranx import Qrels, Run, evaluate

    q = torch.as_tensor(encoder.encode([texts[i] for i in qids], max_length=encoder.config.max_length)).to(encoder.device)
    scores = torch.cat([scorer.score_all(q[s:s + 256]) for s in range(0, len(qids), 256)])
    top = scores.topk(min(k, scores.shape[1]), dim=1)
    run = {qid: {docids[r]: float(s) for s, r in zip(ss.tolist(), rr.tolist())}
           for qid, ss, rr in zip(qids, top.values, top.indices)}
    m = evaluate(Qrels({q: qrels[q] for q in qids}), Run(run), ["ndcg@10", "mrr@10", "recall@100"])
    return {k: round(float(v), 5) for k, v in m.items()}


# ---------------------------------------------------------------- checkpoints
def save_checkpoint(path, encoder, scorer, optimizer, scheduler, step, best, cfg):
    from safetensors.torch import save_file

    with atomic_dir(path, overwrite=True, flag="checkpoint") as tmp:
        save_file(_snapshot(encoder, scorer), str(tmp / "weights.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": step,
                    "best": best, "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                                          "python": random.getstate()}}, tmp / "state.pt")
        (tmp / "config.json").write_text(json.dumps(cfg.fingerprint(), indent=2))


def load_checkpoint(path, encoder, scorer, optimizer, scheduler, cfg):
    from safetensors.torch import load_file

    saved = json.loads((path / "config.json").read_text())
    diff = sorted(k for k in set(saved) | set(cfg.fingerprint()) if saved.get(k) != cfg.fingerprint().get(k))
    if diff:
        raise UsageError(f"--resume: checkpoint {path} was made with a different configuration "
                         f"({', '.join(f'{k}={saved.get(k)!r} vs {cfg.fingerprint().get(k)!r}' for k in diff[:3])})")
    _restore(encoder, scorer, load_file(str(path / "weights.safetensors")))
    state = torch.load(path / "state.pt", weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"]["torch"])
    np.random.set_state(state["rng"]["numpy"])
    random.setstate(state["rng"]["python"])
    return state["step"], state["best"]


# ---------------------------------------------------------------- the loop
def train_jpq(cfg: TrainConfig, resume=False, overwrite=False, progress=True, stop_after=None):
    """Train; ``stop_after`` N steps ends the run early as a kill would (checkpoint, no export)."""
    rank, world = dist_info()
    out = Path(cfg.output)
    if not resume:
        check_output_dir(out, overwrite)
    elif not (out / "checkpoints" / "last").is_dir():
        raise UsageError(f"--resume: no checkpoint in {out / 'checkpoints' / 'last'}")
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)

    # The index: a PQ codebook (trainable centroids, fixed codes and rotation) or flat vectors.
    index, docids, meta = read_index_dir(cfg.index)
    docid_to_row = {d: i for i, d in enumerate(docids)}
    if cfg.target == "flat":
        scorer = FlatScorer(flat_vectors(index)).to(device)
    else:
        if meta.get("kind") == "flat":
            raise UsageError(f"--index {cfg.index}: a flat index; JPQ trains a PQ index (or pass --target flat)")
        scorer = PQCodebook.from_faiss(index).to(device)
    train_centroids = cfg.target == "pq" and cfg.centroid_training
    if isinstance(scorer, PQCodebook):
        scorer.centroids.requires_grad_(train_centroids)
        centroid_lr = cfg.centroid_lr or default_centroid_lr(scorer.M)

    # The query encoder starts from the document encoder, with the query length of the paper.
    encoder = TextEncoder(cfg.encoder or meta.get("encoder") or "sentence-transformers/all-MiniLM-L6-v2", device)
    encoder.config = dataclasses.replace(encoder.config, max_length=cfg.query_max_length)
    if cfg.dropout is not None:
        set_dropout(encoder.model, cfg.dropout)
    if encoder.dim != index.d:
        raise UsageError(f"--encoder {encoder.source}: produces {encoder.dim}-dimensional vectors "
                         f"but the index holds {index.d} dimensions")

    targets = None
    if cfg.loss == "mse":
        if cfg.target != "pq":
            raise UsageError("--loss mse trains centroids and needs --target pq")
        flat_dir = cfg.flat or meta.get("source_index")
        if not flat_dir:
            raise UsageError("--loss mse needs the document vectors: pass --flat FLAT_INDEX_DIR")
        flat_index, flat_docids, _ = read_index_dir(flat_dir, "--flat")
        if flat_docids != docids:
            raise UsageError(f"--flat {flat_dir}: its docids differ from the index's")
        targets = torch.as_tensor(flat_vectors(flat_index)).to(device)
    elif cfg.loss not in RANKING_LOSSES:
        raise UsageError(f"--loss {cfg.loss}: expected pairwise, ce or mse")
    ranking_loss = RANKING_LOSSES.get(cfg.loss, RANKING_LOSSES["pairwise"])

    train_qids, train_texts, train_pos, _ = load_split(cfg.train, docid_to_row, "--train")
    dev_qids, dev_texts, _, dev_qrels = load_split(cfg.dev, docid_to_row, "--dev")
    if set(train_qids) & set(dev_qids):
        raise UsageError(f"--train {cfg.train} and --dev {cfg.dev} share queries; model selection needs a held-out dev set")

    # Optimizer: AdamW; the centroids get their own learning rate and no weight decay.
    decay = [p for n, p in encoder.model.named_parameters() if not any(x in n for x in ("bias", "LayerNorm", "norm"))]
    no_decay = [p for n, p in encoder.model.named_parameters() if any(x in n for x in ("bias", "LayerNorm", "norm"))]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay, "lr": cfg.lr},
              {"params": no_decay, "weight_decay": 0.0, "lr": cfg.lr}]
    if train_centroids:
        groups.append({"params": [scorer.centroids], "weight_decay": 0.0, "lr": centroid_lr})
    optimizer = torch.optim.AdamW(groups)
    params = [p for g in groups for p in g["params"]]
    steps_per_epoch = math.ceil(len(train_qids) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    warmup = max(1, int(cfg.warmup * total_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total_steps - s) / max(1, total_steps - warmup))))
    sampler = NegativeSampler(scorer, cfg.negatives, cfg.neg_topk, index, seed=cfg.seed)
    if cfg.negatives == "static":
        if resume:  # the negatives came from the initial model, which a resumed run no longer has
            raise UsageError("--resume is not supported with --negatives static")
        q_all = encoder.encode([train_texts[i] for i in train_qids], max_length=cfg.query_max_length)
        sampler.mine(train_qids, torch.as_tensor(q_all).to(device))

    step, best = 0, {"ndcg@10": -1.0, "epoch": -1}
    best_state = None
    if resume:
        step, best = load_checkpoint(out / "checkpoints" / "last", encoder, scorer, optimizer, scheduler, cfg)
        best_dir = out / "checkpoints" / "best"
        if best_dir.is_dir():
            best_state = _read_best(best_dir)
    elif rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2) + "\n")
        (out / "train_log.jsonl").write_text("")

    def log(record):
        if rank == 0:
            with open(out / "train_log.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")

    if step == 0 and rank == 0:
        dev0 = evaluate_dev(encoder, scorer, dev_qids, dev_texts, dev_qrels, docids)
        log({"epoch": 0, "step": 0, **{f"dev_{k}": v for k, v in dev0.items()}})
        best = {**{f"dev_{k}": v for k, v in dev0.items()}, "ndcg@10": dev0["ndcg@10"], "epoch": 0}
        best_state = _snapshot(encoder, scorer)
        _write_best(out / "checkpoints" / "best", best_state)

    from tqdm import tqdm
    timing = {"sample": 0.0, "total": 0.0}
    bar = tqdm(total=total_steps, initial=step, desc="jpq train", disable=not progress or rank != 0, unit="step")
    encoder.model.train()
    while step < total_steps:
        epoch, in_epoch = divmod(step, steps_per_epoch)
        order = torch.randperm(len(train_qids), generator=torch.Generator().manual_seed(cfg.seed + epoch)).tolist()
        for b in range(in_epoch, steps_per_epoch):
            t0 = time.perf_counter()
            batch = [train_qids[i] for i in order[b * cfg.batch_size:(b + 1) * cfg.batch_size]]
            global_size = len(batch)
            batch = batch[rank::world]
            loss_value = torch.zeros((), device=device)
            if batch:
                # 1. encode the queries with the current encoder (gradients on)
                q = encoder([train_texts[i] for i in batch], cfg.query_max_length)
                positives = pad([train_pos[i] for i in batch], device)
                # 2. negatives and ranks from the current PQ index (idea 3)
                ts = time.perf_counter()
                neg_rows, neg_mask, pos_rank, neg_rank = sampler.sample(batch, q.detach(), positives)
                timing["sample"] += time.perf_counter() - ts
                # 3. PQ scores with trainable centroids (idea 2) under the ranking loss (idea 1)
                pos_mask = (positives >= 0).float()
                pos_s = scorer.score_pairs(q, positives.clamp(min=0))
                neg_s = scorer.score_pairs(q, neg_rows)
                neg_s = neg_s.masked_fill(~neg_mask, -1e4)  # a relevant "negative" contributes nothing
                per_query = ranking_loss(pos_s, neg_s, pos_mask, pos_rank=pos_rank, neg_rank=neg_rank,
                                         lambda_cut=cfg.lambda_cut, temperature=cfg.temperature)
                loss = per_query.sum() / global_size
                loss.backward()
                loss_value = loss.detach()
                if targets is not None:  # --loss mse: centroids fit the document vectors only
                    scorer.centroids.grad = None
                    rows = torch.randint(scorer.ntotal, (4096,), device=device)
                    rec = reconstruction_loss(scorer.reconstruct(rows), scorer.rotate(targets[rows]))
                    (rec * len(batch) / global_size).backward()
            all_reduce_grads(params, world)
            torch.nn.utils.clip_grad_norm_(params, cfg.clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            timing["total"] += time.perf_counter() - t0
            if world > 1:
                torch.distributed.all_reduce(loss_value)
            bar.set_postfix(loss=f"{loss_value.item():.4f}", q_per_s=f"{step * cfg.batch_size / max(timing['total'], 1e-9):.1f}")
            bar.update(1)
            if rank == 0 and cfg.save_steps and step % cfg.save_steps == 0 and step % steps_per_epoch:
                save_checkpoint(out / "checkpoints" / "last", encoder, scorer, optimizer, scheduler, step, best, cfg)
            if stop_after and step >= stop_after and step % steps_per_epoch:
                save_checkpoint(out / "checkpoints" / "last", encoder, scorer, optimizer, scheduler, step, best, cfg)
                return None
        # end of epoch: dev metrics, best-epoch selection, checkpoint
        if rank == 0:
            dev = evaluate_dev(encoder, scorer, dev_qids, dev_texts, dev_qrels, docids)
            log({"epoch": epoch + 1, "step": step, "loss": round(loss_value.item(), 5),
                 **{f"dev_{k}": v for k, v in dev.items()},
                 "seconds": round(timing["total"], 1), "sample_seconds": round(timing["sample"], 1)})
            if dev["ndcg@10"] > best["ndcg@10"]:
                best = {**{f"dev_{k}": v for k, v in dev.items()}, "ndcg@10": dev["ndcg@10"], "epoch": epoch + 1}
                best_state = _snapshot(encoder, scorer)
                _write_best(out / "checkpoints" / "best", best_state)
            save_checkpoint(out / "checkpoints" / "last", encoder, scorer, optimizer, scheduler, step, best, cfg)
        if world > 1:
            torch.distributed.barrier()
        if stop_after and step >= stop_after:
            return None
    bar.close()

    if rank == 0:
        # Export the dev-selected encoder and centroids: encoder/ and index/ (Pyserini loads both).
        _restore(encoder, scorer, best_state)
        with atomic_dir(out / "encoder", overwrite=True) as tmp:
            encoder.save(tmp)
        with atomic_dir(out / "index", overwrite=True) as tmp:
            trained = scorer.to_faiss(index) if isinstance(scorer, PQCodebook) else index
            write_index_dir(tmp, trained, docids, {
                **inherited(meta),
                "jpq": cfg.target == "pq", "source_index": str(cfg.index), "encoder": str(out / "encoder"),
                "train": {"best_epoch": best["epoch"], "dev_ndcg@10": best["ndcg@10"], "loss": cfg.loss,
                          "negatives": cfg.negatives, "centroid_training": train_centroids, "target": cfg.target}})
        summary = {"best": best, "seconds": round(timing["total"], 1), "sample_seconds": round(timing["sample"], 1),
                   "steps": step, "seconds_per_epoch": round(timing["total"] / max(1, cfg.epochs), 1)}
        with atomic_file(out / "train_summary.json") as tmp:
            tmp.write_text(json.dumps(summary, indent=2) + "\n")
        return summary


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


def _snapshot(encoder, scorer):
    """Encoder weights and centroids as one flat dict (the layout of every weights file here)."""
    state = {f"encoder.{k}": v.detach().clone().contiguous() for k, v in encoder.model.state_dict().items()}
    if isinstance(scorer, PQCodebook):
        state["centroids"] = scorer.centroids.detach().clone()
    return state


def _restore(encoder, scorer, state):
    if state is None:
        return
    encoder.model.load_state_dict({k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")})
    if "centroids" in state:
        scorer.centroids.data.copy_(state["centroids"])


def _write_best(path, state):
    from safetensors.torch import save_file
    with atomic_dir(path, overwrite=True, flag="checkpoint") as tmp:
        save_file(state, str(tmp / "weights.safetensors"))


def _read_best(path):
    from safetensors.torch import load_file
    return load_file(str(path / "weights.safetensors"))


def build_parser():
    p = argparse.ArgumentParser(prog="jpq-pyserini train", description=__doc__.splitlines()[0])
    d = TrainConfig(index="", output="")
    p.add_argument("--index", required=True, help="PQ index dir (or a flat one with --target flat)")
    p.add_argument("--output", required=True, help="training output dir")
    p.add_argument("--encoder", default=None, help="initial query encoder (default: the index's document encoder)")
    p.add_argument("--train", default=d.train, help="training queries + qrels (ir_datasets id or folder)")
    p.add_argument("--dev", default=d.dev, help="dev queries + qrels for epoch selection")
    p.add_argument("--target", choices=["pq", "flat"], default=d.target)
    p.add_argument("--loss", choices=["pairwise", "ce", "mse"], default=d.loss)
    p.add_argument("--negatives", choices=["dynamic", "static", "random"], default=d.negatives)
    p.add_argument("--neg-topk", type=int, default=d.neg_topk)
    p.add_argument("--lambda-cut", type=int, default=d.lambda_cut)
    p.add_argument("--temperature", type=float, default=d.temperature)
    p.add_argument("--no-centroid-training", dest="centroid_training", action="store_false")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="query encoder learning rate")
    p.add_argument("--centroid-lr", type=float, default=None, help="default by M: 5e-6 (<=24), 2e-5 (32), 1e-4 (>=48)")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--warmup", type=float, default=d.warmup, help="warm-up as a fraction of all steps")
    p.add_argument("--clip", type=float, default=d.clip)
    p.add_argument("--query-max-length", type=int, default=d.query_max_length)
    p.add_argument("--flat", default=None, help="flat index dir with the document vectors (--loss mse)")
    p.add_argument("--save-steps", type=int, default=0, help="also checkpoint every N steps")
    p.add_argument("--dropout", type=float, default=None, help="override the encoder's dropout rate")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT/checkpoints/last")
    p.add_argument("--overwrite", action="store_true")
    return p


@cli("jpq-pyserini train")
def main(argv=None):
    args = vars(build_parser().parse_args(argv))
    resume, overwrite, threads = args.pop("resume"), args.pop("overwrite"), args.pop("threads")
    if threads:
        torch.set_num_threads(threads)
    cfg = TrainConfig(**args)
    summary = train_jpq(cfg, resume=resume, overwrite=overwrite)
    if summary:
        print(f"best dev nDCG@10 {summary['best']['ndcg@10']:.4f} at epoch {summary['best']['epoch']}; "
              f"{summary['seconds']:.0f} s ({summary['sample_seconds']:.0f} s negative sampling) -> "
              f"{cfg.output}/encoder, {cfg.output}/index", file=sys.stderr)


if __name__ == "__main__":
    main()
