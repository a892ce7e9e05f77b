"""``--fine-tune auto`` (the default with labels): the cheap query side first, the transformer
only where dev says it pays.

Stage 1 trains the query head and the centroids on the frozen transformer (its output computed
once per query: seconds on a CPU) into OUTPUT. Stage 2 is an ordinary run of the same loop
started from stage 1's export, with the transformer trained too, into OUTPUT/fine-tune. Its
epoch 0 is stage 1's model, so its dev selection is the rule: the fine-tuned model replaces
stage 1's only if an epoch beats stage 1's dev nDCG@10. Why in this order: trained from the
first step, the transformer pulled NFCorpus's dev down at every rate tried, while from the
head's optimum it added on both collections' dev splits, most on 4-bit codes and at M=24
(eval/results/sweeps/*-fine-tune.md). ``train_summary.json`` says which stage was kept and
the dev scores that decided it; OUTPUT/fine-tune keeps stage 2's log.
"""
import dataclasses
import json
import shutil
from pathlib import Path

from . import fsutil
from .fsutil import atomic_file

STAGE2 = "fine-tune"


def train_in_stages(cfg, train_once, resume=False, overwrite=False, progress=True, stop_after=None):
    out = Path(cfg.output)
    second_dir = out / STAGE2
    if resume and (out / "train_summary.json").exists():  # stage 1 finished before the stop
        first = json.loads((out / "train_summary.json").read_text())
        if "fine_tune" in first:  # and so had stage 2
            return first
    else:
        first = train_once(dataclasses.replace(cfg, fine_tune="off", lr=0.0), resume, overwrite, progress, stop_after)
    rank = _barrier()  # the other ranks start stage 2 from what rank 0 exported
    if not (out / "train_summary.json").exists():  # stopped by stop_after, as a kill would
        return None
    second_cfg = dataclasses.replace(
        cfg, fine_tune="joint", index=str(out / "index"), encoder=str(out / "encoder"), output=str(second_dir),
        epochs=cfg.fine_tune_epochs, flat=cfg.flat or _source(cfg))
    second = train_once(second_cfg, resume and (second_dir / "checkpoints" / "last").is_dir(), True, progress,
                        stop_after)
    if rank != 0 or second is None:
        return None
    return _keep_the_better(cfg, out, second_dir, first, second)


def _barrier():
    import torch
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        return torch.distributed.get_rank()
    return 0


def _source(cfg):
    """--loss mse fits centroids to the flat vectors: stage 1's export names its PQ index as its
    source, so stage 2 is told the flat index the original came from."""
    if cfg.loss != "mse":
        return None
    from .indexdir import read_meta
    return read_meta(cfg.index).get("source_index")


def _keep_the_better(cfg, out, second_dir, first, second):
    """Stage 2's export replaces stage 1's when it improved on dev; its model files are then
    dropped (its log, config and summary stay as the record)."""
    kept = second["improved"]
    start, best = second["dev_ndcg@10_start"], second["best"]["ndcg@10"]
    decision = (f"fine-tuning the transformer (lr {cfg.lr:g}) raised dev nDCG@10 from {start:.4f} to {best:.4f} "
                f"(epoch {second['best']['epoch']} of {cfg.fine_tune_epochs}): kept" if kept else
                f"fine-tuning the transformer (lr {cfg.lr:g}) did not raise dev nDCG@10 above the head's "
                f"{start:.4f} in {second['epochs_run']} epochs: the frozen transformer with its head is exported")
    if kept:
        for part in ("encoder", "index"):
            fsutil.replace_dir(second_dir / part, out / part)
    for part in ("encoder", "index", "checkpoints"):
        shutil.rmtree(second_dir / part, ignore_errors=True)
    meta_path = out / "index" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["source_index"], meta["query_encoder"] = str(cfg.index), str(out / "encoder")
    meta["train"].update(fine_tune="auto", fine_tune_kept=kept, encoder_trained=kept,
                         verdict=f"{first['verdict']}; {decision}")
    with atomic_file(meta_path) as tmp:
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
    chosen = second if kept else first
    summary = {**chosen, "verdict": meta["train"]["verdict"], "improved": first["improved"] or kept,
               "dev_ndcg@10_start": first["dev_ndcg@10_start"],
               "fine_tune": {"mode": "auto", "kept": kept, "decision": decision, "lr": cfg.lr,
                             "head_stage": _brief(first), "fine_tune_stage": _brief(second)},
               "seconds": round(first["seconds"] + second["seconds"], 1),
               "sample_seconds": round(first["sample_seconds"] + second["sample_seconds"], 1),
               "steps": first["steps"] + second["steps"], "epochs_run": first["epochs_run"] + second["epochs_run"],
               "seconds_per_epoch": None,  # the stages' epochs differ in cost: see fine_tune's stages
               "peak_rss_gib": max(x for x in (first["peak_rss_gib"], second["peak_rss_gib"], 0) if x is not None)}
    with atomic_file(out / "train_summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _brief(summary):
    return {"best_epoch": summary["best"]["epoch"], "dev_ndcg@10": summary["best"]["ndcg@10"],
            "dev_ndcg@10_start": summary["dev_ndcg@10_start"], "epochs_run": summary["epochs_run"],
            "seconds": summary["seconds"]}
