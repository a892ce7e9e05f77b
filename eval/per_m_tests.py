"""JPQ at each M against every baseline of the target, from a reproduction's run files.

    python eval/per_m_tests.py QRELS RUNS_DIR M [M ...]

RUNS_DIR: a ``reproduce`` report's ``runs/`` (jpqM, bm25, flat, pqM, opqM and the
flat-trained query side on JPQ's start index, flat-ft-on-{pq,opq}M). Prints nDCG@10 deltas
with the paired t-test p-values ``reproduce`` reports (``jpq_pyserini.eval.compare``).
"""
import argparse
from pathlib import Path

from ranx import Run

from jpq_pyserini.eval import compare, read_qrels


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("qrels")
    p.add_argument("runs", type=Path)
    p.add_argument("m", nargs="+")
    args = p.parse_args(argv)
    qrels = read_qrels(args.qrels)

    print("| M | JPQ | vs BM25 | vs flat | vs PQ | vs OPQ | vs flat-trained on JPQ's start |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for m in args.m:
        start = next(f"flat-ft-on-{kind}{m}" for kind in ("opq", "pq") if (args.runs / f"flat-ft-on-{kind}{m}.trec").exists())
        names = [f"jpq{m}", "bm25", "flat", f"pq{m}", f"opq{m}", start]
        runs = [Run.from_file(str(args.runs / f"{n}.trec"), kind="trec", name=n) for n in names]
        report = compare(qrels, runs, ["ndcg@10"])
        score = {n: report.results[n]["ndcg@10"] for n in names}
        cells = [f"{score[names[0]] - score[n]:+.4f} (p {report.comparisons[names[0], n]['ndcg@10']['p_value']:.2g})"
                 for n in names[1:]]
        print(f"| {m} | {score[names[0]]:.4f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
