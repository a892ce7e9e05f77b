"""JPQ at each M against every baseline of the target, from a reproduction's run files.

    python eval/per_m_tests.py QRELS RUNS_DIR M [M ...]

RUNS_DIR: a ``reproduce`` report's ``runs/`` (jpqM, bm25, flat, pqM, opqM and the
flat-trained query side on JPQ's start index, flat-ft-on-{pq,opq}M). Prints nDCG@10 deltas
with paired t-test p-values (ranx per-query scores, ``scipy.stats.ttest_rel``).
"""
import argparse
from pathlib import Path

from ranx import Run, evaluate
from scipy.stats import ttest_rel

from jpq_pyserini.eval import read_qrels, read_run


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("qrels")
    p.add_argument("runs", type=Path)
    p.add_argument("m", nargs="+")
    args = p.parse_args(argv)
    qrels = read_qrels(args.qrels)

    def ndcg(name):
        return evaluate(qrels, Run(read_run(args.runs / f"{name}.trec")), "ndcg@10", return_mean=False,
                        make_comparable=True)

    print("| M | JPQ | vs BM25 | vs flat | vs PQ | vs OPQ | vs flat-trained on JPQ's start |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for m in args.m:
        jpq = ndcg(f"jpq{m}")
        start = next(f"flat-ft-on-{kind}{m}" for kind in ("opq", "pq") if (args.runs / f"flat-ft-on-{kind}{m}.trec").exists())
        cells = []
        for base in ("bm25", "flat", f"pq{m}", f"opq{m}", start):
            other = ndcg(base)
            cells.append(f"{jpq.mean() - other.mean():+.4f} (p {ttest_rel(jpq, other).pvalue:.2g})")
        print(f"| {m} | {jpq.mean():.4f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
