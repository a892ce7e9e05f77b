"""Negative mining speed: the retrieval paths of ``train --mining`` side by side on one index.

    python benchmarks/mining_speed.py --index runs/scale/n1000000/opq48 [--batch 32] [--k 200] [--threads 2]

For one training step's batch of queries (random unit vectors; the cost does not depend on
them) and the index's codes and centroids: seconds per batch of the torch path (streamed
exact ADC over document chunks, one embedding bag per chunk for the whole batch) and of the
faiss path (the centroids copied into the index, then faiss's own search), the ratio, and
whether both return the same top k.
"""
import argparse
import time

import faiss
import torch

from jpq_pyserini.codebook import PQCodebook
from jpq_pyserini.indexdir import read_index_dir
from jpq_pyserini.retrieval import Retriever


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--index", required=True)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--k", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    index, _, _ = read_index_dir(args.index)
    scorer = PQCodebook.from_faiss(index)
    q = torch.nn.functional.normalize(torch.randn(args.batch, scorer.dim, generator=torch.Generator().manual_seed(0)),
                                      dim=-1)
    rows, times = {}, {}
    for mode in ("torch", "faiss"):
        retriever = Retriever(scorer, index, mode)
        best = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            rows[mode] = retriever.search(q, args.k)[1]
            best = min(best, time.perf_counter() - t)
        times[mode] = best
    same = (rows["torch"] == rows["faiss"]).float().mean().item()
    print(f"{args.index}: {scorer.ntotal:,} documents, M={scorer.M}, batch {args.batch}, k={args.k}, "
          f"{args.threads} threads, {time.strftime('%Y-%m-%d %H:%M')}")
    print("| path | s per batch | x faiss |\n|---|---:|---:|")
    for mode in ("torch", "faiss"):
        print(f"| {mode} | {times[mode]:.3f} | {times['faiss'] / times[mode]:.2f} |")
    print(f"same top-{args.k} rows in the same order: {same:.1%}")


if __name__ == "__main__":
    main()
