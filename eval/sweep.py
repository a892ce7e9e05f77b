"""Training-recipe sweeps on dev splits, recorded so that every default can be traced to evidence.

    python eval/sweep.py eval/sweeps/GRID.yaml [--only NAME ...] [--collect]

A grid names a collection (index dir, train and dev datasets) and runs: each run is a set
of ``TrainConfig`` overrides on top of the grid's ``base``. Each run trains into
``$JPQ_PYSERINI_CACHE/sweeps/<grid>/<run>`` (reused when it finished before); the settings
and dev scores per epoch of every run that has started are written to
``eval/results/sweeps/<grid>.jsonl`` and ``<grid>.md`` (the table: dev nDCG@10 by epoch).
Model selection reads dev only: the test split is never touched here. The grids' index
dirs are built with ``jpq-pyserini encode`` and ``jpq-pyserini index --pq-m 48 --threads 1``
(OPQ48, the defaults) from the collection named in the grid.
"""
import argparse
import json
import os
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def config(grid, name, overrides):
    from jpq_pyserini.fsutil import cache_dir
    from jpq_pyserini.train import TrainConfig

    out = cache_dir("sweeps", grid["name"]) / name
    settings = {**grid.get("base", {}), **overrides}
    index = settings.pop("index", grid["index"])  # a run may name its own index (another M or kind)
    return TrainConfig(index=os.path.expandvars(index), output=str(out), train=grid["train"], dev=grid["dev"],
                       **settings), {**settings, **({"index": index} if "index" in overrides else {})}


def record(grid, name, overrides):
    """Settings and dev scores by epoch of one run, finished or not (a run stopped by hand
    once it had clearly collapsed is kept, marked unfinished)."""
    cfg, settings = config(grid, name, overrides)
    out = Path(cfg.output)
    if not (out / "train_log.jsonl").exists():
        return None
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    summary = json.loads((out / "train_summary.json").read_text()) if (out / "train_summary.json").exists() else None
    best = max(log, key=lambda r: r["dev_ndcg@10"])
    return {"grid": grid["name"], "run": name, "settings": settings, "finished": summary is not None,
            "config": {k: v for k, v in json.loads((out / "train_config.json").read_text()).items()
                       if k not in ("output", "index")},  # what actually ran
            "dev_ndcg@10_by_epoch": [r["dev_ndcg@10"] for r in log],
            "dev_recall@100_by_epoch": [r["dev_recall@100"] for r in log],
            "encoder_lr_by_epoch": [r.get("encoder_lr") for r in log[1:]],
            "head_lr_by_epoch": [r.get("head_lr") for r in log[1:]],
            "best_epoch": best["epoch"], "best_dev_ndcg@10": best["dev_ndcg@10"],
            "seconds": log[-1].get("seconds"), "epochs_run": log[-1]["epoch"], **fine_tune_stage(out, summary)}


def fine_tune_stage(out, summary):
    """--fine-tune auto: the second stage's dev scores by epoch (its epoch 0 is the head
    stage's best) and whether its model was kept."""
    path = out / "fine-tune" / "train_log.jsonl"
    if not path.exists():
        return {}
    log = [json.loads(line) for line in path.read_text().splitlines()]
    kept = summary["fine_tune"]["kept"] if summary and "fine_tune" in summary else None
    return {"fine_tune_dev_ndcg@10_by_epoch": [r["dev_ndcg@10"] for r in log], "fine_tune_kept": kept,
            "fine_tune_seconds": log[-1].get("seconds"), "exported_dev_ndcg@10": max(r["dev_ndcg@10"] for r in log)
            if kept else log[0]["dev_ndcg@10"]}


def table(records):
    width = max(len(r["dev_ndcg@10_by_epoch"]) for r in records)
    staged = any("fine_tune_kept" in r for r in records)
    lines = ["| run | settings | best (epoch) | " + " | ".join(f"ep {e}" for e in range(width)) + " | s/epoch |"
             + (" fine-tune stage: dev by epoch (0 = the head's best) | kept | exported | fine-tune s |" if staged else ""),
             "|---|---|---|" + "---|" * width + "---|" + ("---|---|---|---|" if staged else "")]
    for r in records:
        by_epoch = r["dev_ndcg@10_by_epoch"] + [""] * (width - len(r["dev_ndcg@10_by_epoch"]))
        settings = ", ".join(f"{k}={v}" for k, v in r["settings"].items())
        per_epoch = round(r["seconds"] / r["epochs_run"], 1) if r["epochs_run"] else ""
        name = r["run"] + ("" if r["finished"] else " (stopped by hand)")
        lines.append(f"| {name} | {settings} | **{r['best_dev_ndcg@10']:.4f}** ({r['best_epoch']}) | "
                     + " | ".join(f"{v:.4f}" if v != "" else "" for v in by_epoch) + f" | {per_epoch} |"
                   + (_stage_cells(r) if staged else ""))
    return "\n".join(lines)


def _stage_cells(r):
    if "fine_tune_kept" not in r:
        return f" | | | **{r['best_dev_ndcg@10']:.4f}** | |"
    scores = ", ".join(f"{v:.4f}" for v in r["fine_tune_dev_ndcg@10_by_epoch"])
    kept = {True: "yes", False: "no", None: "(unfinished)"}[r["fine_tune_kept"]]
    return f" {scores} | {kept} | **{r['exported_dev_ndcg@10']:.4f}** | {r['fine_tune_seconds']} |"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("grid", help="eval/sweeps/<grid>.yaml")
    p.add_argument("--only", nargs="+", help="run only these named runs")
    p.add_argument("--collect", action="store_true", help="train nothing: rewrite the records from what has run")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    import torch
    from jpq_pyserini.train import train_jpq
    torch.set_num_threads(args.threads)
    grid = {"name": Path(args.grid).stem, **yaml.safe_load(Path(args.grid).read_text())}
    for name, overrides in grid["runs"].items():
        if args.collect or (args.only and name not in args.only):
            continue
        cfg, _ = config(grid, name, overrides or {})
        if not (Path(cfg.output) / "train_summary.json").exists():
            train_jpq(cfg, overwrite=True, progress=False)
        r = record(grid, name, overrides or {})
        print(f"{name}: best dev nDCG@10 {r['best_dev_ndcg@10']:.4f} at epoch {r['best_epoch']} "
              f"({r['dev_ndcg@10_by_epoch']})", file=sys.stderr, flush=True)
    records = [r for name, o in grid["runs"].items() if (r := record(grid, name, o or {}))]
    results = ROOT / "eval" / "results" / "sweeps"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{grid['name']}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (results / f"{grid['name']}.md").write_text(
        f"# Sweep {grid['name']}: dev nDCG@10 by epoch (epoch 0 = before training)\n\n"
        f"index {grid['index']}; train {grid['train']}; dev {grid['dev']}; command: "
        f"`python eval/sweep.py {args.grid}`\n\n{table(records)}\n")


if __name__ == "__main__":
    main()
