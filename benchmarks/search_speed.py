"""Search speed of flat vs PQ indexes on a synthetic corpus, one thread, side by side.

    python benchmarks/search_speed.py [--n 1000000] [--dim 384] [--queries 100] [--k 100]

Prints queries/s, ratios against both faiss flat paths (per-query scan: one query per
call; BLAS: the whole batch in one call), and index memory. Indexes are built with
jpq-pyserini's own builder (the same code `jpq-pyserini index` runs).
"""
import argparse
import time

import faiss
import numpy as np

from jpq_pyserini.index import build_pq_index


def qps(fn, nq, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return nq / best


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--train", type=int, default=100_000, help="vectors used to train the quantizers")
    args = p.parse_args()
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.n, args.dim), dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Q = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)

    flat = faiss.IndexFlatIP(args.dim)
    flat.add(X)

    def blas_search():
        # faiss 1.15 only takes its BLAS path from 128,000 queries per call
        # (distance_compute_blas_threshold); lower it so a 100-query batch uses BLAS.
        saved = faiss.cvar.distance_compute_blas_threshold
        faiss.cvar.distance_compute_blas_threshold = 20
        try:
            return flat.search(Q, args.k)
        finally:
            faiss.cvar.distance_compute_blas_threshold = saved

    rows = [("flat, per-query scan", 4 * args.dim, lambda: [flat.search(Q[i:i + 1], args.k) for i in range(len(Q))])]
    rows.append(("flat, BLAS (batch)", 4 * args.dim, blas_search))
    for name, m, nbits, fast in [("PQ48x8", 48, 8, False), ("PQ96x4 fast-scan", 96, 4, True)]:
        index = build_pq_index(X[:args.train], m, nbits, opq=False)  # trained on a sample, then filled
        index.reset()
        index.add(X)
        if fast:
            index = faiss.IndexPQFastScan(index)
        rows.append((name, m * nbits / 8, (lambda ix: lambda: ix.search(Q, args.k))(index)))
    results = [(name, bpd, qps(fn, args.queries)) for name, bpd, fn in rows]
    scan, blas = results[0][2], results[1][2]
    print(f"n={args.n:,} dim={args.dim} queries={args.queries} k={args.k}, 1 thread")
    print("| index | bytes/doc | memory (MB) | q/s | x per-query flat | x BLAS flat |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, bpd, r in results:
        print(f"| {name} | {bpd:g} | {bpd * args.n / 2**20:,.0f} | {r:,.1f} | {r / scan:.1f} | {r / blas:.2f} |")


if __name__ == "__main__":
    main()
