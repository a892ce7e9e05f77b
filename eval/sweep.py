"""Training-recipe sweeps on dev splits, recorded so that every default can be traced to evidence.

    python eval/sweep.py eval/sweeps/GRID.yaml [--only NAME ...]

A grid names a collection (index dir, train and dev datasets) and runs: each run is a set
of ``TrainConfig`` overrides on top of the grid's ``base``. Each run trains into
``$JPQ_PYSERINI_CACHE/sweeps/<grid>/<run>`` (reused when it finished before) and its
settings and dev scores per epoch are appended to ``eval/results/sweeps/<grid>.jsonl``;
``eval/results/sweeps/<grid>.md`` is the table (dev nDCG@10 by epoch). Model selection
reads dev only: the test split is never touched here.
"""
import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def run_one(grid_name, grid, name, overrides):
    from jpq_pyserini.fsutil import cache_dir
    from jpq_pyserini.train import TrainConfig, train_jpq

    out = cache_dir("sweeps", grid_name) / name
    settings = {**grid.get("base", {}), **overrides}
    cfg = TrainConfig(index=os.path.expandvars(grid["index"]), output=str(out), train=grid["train"], dev=grid["dev"],
                      **settings)
    if not (out / "train_summary.json").exists():
        train_jpq(cfg, overwrite=True, progress=False)
    summary = json.loads((out / "train_summary.json").read_text())
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    return {"grid": grid_name, "run": name, "settings": settings,
            "config": {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("output", "index")},
            "dev_ndcg@10_by_epoch": [r["dev_ndcg@10"] for r in log],
            "dev_recall@100_by_epoch": [r["dev_recall@100"] for r in log],
            "best_epoch": summary["best"]["epoch"], "best_dev_ndcg@10": summary["best"]["ndcg@10"],
            "seconds": summary["seconds"], "seconds_per_epoch": summary["seconds_per_epoch"]}


def table(records):
    width = max(len(r["dev_ndcg@10_by_epoch"]) for r in records)
    lines = ["| run | settings | best (epoch) | " + " | ".join(f"ep {e}" for e in range(width)) + " | s/epoch |",
             "|---|---|---|" + "---|" * width + "---|"]
    for r in records:
        by_epoch = r["dev_ndcg@10_by_epoch"] + [""] * (width - len(r["dev_ndcg@10_by_epoch"]))
        settings = ", ".join(f"{k}={v}" for k, v in r["settings"].items())
        lines.append(f"| {r['run']} | {settings} | **{r['best_dev_ndcg@10']:.4f}** ({r['best_epoch']}) | "
                     + " | ".join(f"{v:.4f}" if v != "" else "" for v in by_epoch) + f" | {r['seconds_per_epoch']} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("grid", help="eval/sweeps/<grid>.yaml")
    p.add_argument("--only", nargs="+", help="run only these named runs")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    grid_name = Path(args.grid).stem
    grid = yaml.safe_load(Path(args.grid).read_text())
    results = ROOT / "eval" / "results" / "sweeps"
    results.mkdir(parents=True, exist_ok=True)
    for name, overrides in grid["runs"].items():
        if args.only and name not in args.only:
            continue
        record = run_one(grid_name, grid, name, overrides or {})
        with open(results / f"{grid_name}.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        print(f"{name}: best dev nDCG@10 {record['best_dev_ndcg@10']:.4f} at epoch {record['best_epoch']} "
              f"({record['dev_ndcg@10_by_epoch']})", file=sys.stderr, flush=True)
    latest = {}
    for line in (results / f"{grid_name}.jsonl").read_text().splitlines():
        r = json.loads(line)
        latest[r["run"]] = r
    (results / f"{grid_name}.md").write_text(
        f"# Sweep {grid_name}: dev nDCG@10 by epoch (epoch 0 = before training)\n\n"
        f"index {grid['index']}; train {grid['train']}; dev {grid['dev']}; command: "
        f"`python eval/sweep.py {args.grid}`\n\n{table(list(latest.values()))}\n")


if __name__ == "__main__":
    main()
