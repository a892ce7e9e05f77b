"""Search speed of flat, PQ, fast-scan and IVF indexes on a synthetic corpus, side by side.

    python benchmarks/search_speed.py [--n 1000000] [--dim 384] [--queries 200] [--k 100 1000]
                                      [--threads 1 2] [--nlist 1024] [--nprobe 8 16 32 64]
                                      [--flat SCIFACT_FLAT_DIR] [--flat-max 2000000]
                                      [--only-encoder | --skip-encoder] [--skip-plugin]

The runs behind eval/results/fast-search/ (its README has the exact commands): 1M and
8,841,823 documents with ``--flat`` the SciFact flat index dir.

The corpus is N synthetic unit vectors, or with ``--flat`` the scale simulation's corpus
(``benchmarks/scale.py``: SciFact's 5,183 MiniLM vectors plus seeded distractors blended from
them, N in all) searched by SciFact's encoded test queries: random vectors have no cluster
structure, so IVF's recall on them says nothing about real collections.

For every thread count and k: queries/s of each index (the whole query batch in one call),
its ratio against faiss's two flat paths (per-query scan: one query per call; BLAS: the
batch in one call; only up to --flat-max documents), PQ48x8 and exhaustive fast-scan, index memory, and recall@100 against exhaustive search over the same
codes (an IVF index against itself with every list probed). First the query encoders' ms/q
(torch, ONNX Runtime float and int8) on SciFact's test queries. Then the search path through
Pyserini (``FaissSearcher.batch_search`` and its TREC writer, pre-encoded queries) against
raw faiss on the same index, with Pyserini's own result path and with the plugin's
(``fast_results``). Indexes are built with jpq-pyserini's own builder.
"""
import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from jpq_pyserini.index import build_pq_index, new_ivf_index


def best_time(fn, repeat=3, enough=10.0):
    """The fastest of ``repeat`` runs; one run when it alone takes ``enough`` seconds."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
        if best >= enough:
            break
    return best


def unit(rng, n, dim):
    x = rng.standard_normal((n, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def corpus(args):
    """SciFact's vectors plus distractors (scale.py's generator), and SciFact's test queries."""
    import importlib.util

    from jpq_pyserini.encoder import QUERY_MAX_LENGTH, TextEncoder
    from jpq_pyserini.indexdir import flat_vectors, read_index_dir

    spec = importlib.util.spec_from_file_location("scale", Path(__file__).parent / "scale.py")
    scale = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scale)
    real = flat_vectors(read_index_dir(args.flat, "--flat")[0])
    X = np.empty((args.n, real.shape[1]), dtype=np.float32)
    X[:len(real)] = real
    for start, vectors in scale.chunks(real, args.n - len(real), seed=0):
        X[len(real) + start:len(real) + start + len(vectors)] = vectors
    encoder = TextEncoder("sentence-transformers/all-MiniLM-L6-v2")
    encoder.config.max_length = QUERY_MAX_LENGTH
    return X, encoder.encode(scifact_queries(args.queries)).astype(np.float32)


def build(X, args):
    """{name: (index, bytes/doc, nprobe or None)}: trained on a sample, then filled."""
    sample = X[np.random.default_rng(1).choice(len(X), min(args.train, len(X)), replace=False)]
    out = {}
    for name, m, nbits, fast in [("PQ48x8", 48, 8, False), ("PQ96x4 fast-scan", 96, 4, True)]:
        index = build_pq_index(sample, m, nbits, opq=False)
        index.reset()
        index.add(X)
        if fast:
            index = faiss.IndexPQFastScan(index)
        out[name] = (index, m * nbits / 8, None)
    ivf = new_ivf_index(X.shape[1], 96, 4, False, True, args.nlist, args.nlist)
    ivf.train(sample)
    ivf.add(X)
    for nprobe in args.nprobe:
        out[f"IVF{args.nlist} PQ96x4 fast-scan, nprobe {nprobe}"] = (ivf, 48, nprobe)
    return out


def recall(found, truth, at=100):
    return float(np.mean([len(set(f[:at]) & set(t[:at])) / at for f, t in zip(found, truth)]))


def plugin_paths(index, Q, ks):
    """{(k, fast): seconds} for FaissSearcher.batch_search plus Pyserini's TREC writer over all
    queries, with Pyserini's result path (fast False) and the plugin's (``fast_results``)."""
    from pyserini.output_writer import OutputFormat, get_output_writer
    from pyserini.search.faiss import FaissSearcher

    from jpq_pyserini.fast_results import fast_results
    with tempfile.TemporaryDirectory() as tmp:
        faiss.write_index(index, f"{tmp}/index")
        Path(f"{tmp}/docid").write_text("".join(f"doc{i}\n" for i in range(index.ntotal)))
        searcher = FaissSearcher(tmp, None)
        out = {}
        for k in ks:
            for fast in (True, False):
                def run():
                    with contextlib.ExitStack() as stack:
                        if fast:
                            stack.enter_context(fast_results())
                        with get_output_writer(f"{tmp}/run", OutputFormat.TREC, "w", max_hits=k, tag="Faiss") as writer:
                            for s in range(0, len(Q), 64):  # Pyserini's loop: batches, then one write per query
                                ids = [str(i) for i in range(s, min(s + 64, len(Q)))]
                                results = searcher.batch_search(Q[s:s + 64], ids, k=k, threads=faiss.omp_get_max_threads())
                                for qid in ids:
                                    writer.write(qid, results[qid])
                out[k, fast] = best_time(run)
        return out


def scifact_queries(n=None):
    from jpq_pyserini.datasets import iter_queries, load_dataset
    return [t for _, t in iter_queries(load_dataset("jpq-pyserini/scifact/test"))][:n]


def encoder_rows(encoder, texts):
    """Query encoding on one thread: torch (one query per call, and batches of 64) against
    ONNX Runtime float and dynamic int8 (export-onnx), over the same query texts."""
    import torch

    from jpq_pyserini.encoder import QUERY_MAX_LENGTH, TextEncoder
    from jpq_pyserini.onnx_encoder import OnnxEncoder, export
    torch.set_num_threads(1)
    model = TextEncoder(encoder)
    model.config.max_length = QUERY_MAX_LENGTH
    reference = model.encode(texts)
    rows = [("torch float, 1 query per call", lambda: [model.encode([t]) for t in texts], 1.0),
            ("torch float, batches of 64", lambda: model.encode(texts, batch_size=64), 1.0)]
    with tempfile.TemporaryDirectory() as tmp:
        for name, int8 in (("float", False), ("int8", True)):
            Path(tmp, name).mkdir()
            export(encoder, Path(tmp, name), int8)
            onnx = OnnxEncoder(Path(tmp, name), threads=1)
            cos = float(((onnx.encode(texts) * reference).sum(1)).min())
            rows.append((f"ONNX Runtime {name}, 1 query per call", (lambda o: lambda: o.encode(texts))(onnx), cos))
        timed = [(name, best_time(fn), cos) for name, fn, cos in rows]
    base = timed[0][1]
    print(f"\nQuery encoder ({encoder}, {len(texts)} SciFact test queries, one thread):")
    print("| encoder | ms/q | q/s | x torch (1 per call) | min cosine to torch |")
    print("|---|---:|---:|---:|---:|")
    for name, seconds, cos in timed:
        print(f"| {name} | {1000 * seconds / len(texts):.2f} | {len(texts) / seconds:,.1f} | {base / seconds:.2f} | {cos:.4f} |",
              flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--k", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--nlist", type=int, default=1024)
    p.add_argument("--nprobe", type=int, nargs="+", default=[8, 16, 32, 64])
    p.add_argument("--train", type=int, default=100_000, help="vectors used to train the quantizers")
    p.add_argument("--flat-max", type=int, default=2_000_000, help="flat rows only up to this many documents")
    p.add_argument("--flat", default=None, help="SciFact flat index dir: use the scale simulation's corpus")
    p.add_argument("--encoder", default="sentence-transformers/all-MiniLM-L6-v2", help="query encoder to time")
    p.add_argument("--only-encoder", action="store_true", help="time the query encoders only")
    p.add_argument("--skip-encoder", action="store_true", help="do not time the query encoders")
    p.add_argument("--skip-plugin", action="store_true", help="do not time the search path through Pyserini")
    args = p.parse_args()
    if not args.skip_encoder:
        encoder_rows(args.encoder, scifact_queries())
    if args.only_encoder:
        return
    rng = np.random.default_rng(0)
    X, Q = corpus(args) if args.flat else (unit(rng, args.n, args.dim), unit(rng, args.queries, args.dim))
    args.dim, args.queries = X.shape[1], len(Q)
    flat = None
    if args.n <= args.flat_max:  # a second copy of the float vectors: 13 GB at 8.8M x 384
        flat = faiss.IndexFlatIP(args.dim)
        flat.add(X)
    indexes = build(X, args)
    del X
    exhaustive = {}
    for name, (index, _, nprobe) in indexes.items():
        if nprobe is not None:
            faiss.extract_index_ivf(index).nprobe = args.nlist
        exhaustive[name] = index.search(Q, 100)[1]

    def blas_search(k):
        # faiss 1.15 only takes its BLAS path from 128,000 queries per call
        # (distance_compute_blas_threshold); lower it so the batch uses BLAS.
        saved = faiss.cvar.distance_compute_blas_threshold
        faiss.cvar.distance_compute_blas_threshold = 20
        try:
            return flat.search(Q, k)
        finally:
            faiss.cvar.distance_compute_blas_threshold = saved

    what = "SciFact + distractors, SciFact test queries" if args.flat else "synthetic unit vectors"
    print(f"\nn={args.n:,} ({what}) dim={args.dim} queries={args.queries}, {time.strftime('%Y-%m-%d %H:%M')}")
    bases = ["per-query flat", "BLAS flat", "PQ48x8", "PQ96x4 fast-scan"]
    print("| threads | k | index | bytes/doc | memory (MB) | q/s | " + " | ".join(f"x {b}" for b in bases)
          + " | recall@100 vs exhaustive |")
    print("|---:|---:|---|---:|---:|---:|" + "---:|" * len(bases) + "---:|")
    for threads in args.threads:
        faiss.omp_set_num_threads(threads)
        for k in args.k:
            rows = []
            if flat is not None:
                rows += [("flat, per-query scan", 4 * args.dim,
                          best_time(lambda: [flat.search(Q[i:i + 1], k) for i in range(len(Q))]), None),
                         ("flat, BLAS (batch)", 4 * args.dim, best_time(lambda: blas_search(k)), None)]
            for name, (index, bpd, nprobe) in indexes.items():
                if nprobe is not None:
                    faiss.extract_index_ivf(index).nprobe = nprobe
                rows.append((name, bpd, best_time(lambda: index.search(Q, k)), recall(index.search(Q, 100)[1], exhaustive[name])))
            seconds_of = dict((name, seconds) for name, _, seconds, _ in rows)
            base_seconds = [seconds_of.get(n) for n in ("flat, per-query scan", "flat, BLAS (batch)", *bases[2:])]
            for name, bpd, seconds, rec in rows:
                ratios = " | ".join("" if b is None else f"{b / seconds:.2f}" for b in base_seconds)
                print(f"| {threads} | {k} | {name} | {bpd:g} | {bpd * args.n / 2**20:,.0f} | {args.queries / seconds:,.1f} "
                      f"| {ratios} | {'' if rec is None else f'{rec:.3f}'} |", flush=True)

    if args.skip_plugin:
        return
    print("\nThe search path through Pyserini (FaissSearcher.batch_search + TREC writer), pre-encoded queries:")
    print("| threads | k | index | raw faiss ms/q | Pyserini's path ms/q | overhead | plugin's path ms/q | overhead |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    ms = 1000 / args.queries
    names = ["PQ96x4 fast-scan", "PQ48x8"] + [n for n in indexes if n.startswith("IVF")][1:2]
    for threads in args.threads:
        faiss.omp_set_num_threads(threads)
        for name in names:
            index, _, nprobe = indexes[name]
            if nprobe is not None:
                faiss.extract_index_ivf(index).nprobe = nprobe
            paths = plugin_paths(index, Q, args.k)
            for k in args.k:
                raw = best_time(lambda: [index.search(Q[s:s + 64], k) for s in range(0, len(Q), 64)])
                ours, theirs = paths[k, True], paths[k, False]
                print(f"| {threads} | {k} | {name} | {raw * ms:.2f} | {theirs * ms:.2f} | {theirs / raw - 1:+.0%} "
                      f"| {ours * ms:.2f} | {ours / raw - 1:+.0%} |", flush=True)


if __name__ == "__main__":
    main()
