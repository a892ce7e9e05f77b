"""Scale simulation: JPQ with SciFact's real queries inside 1M and 8.8M-document corpora.

    python benchmarks/scale.py --flat SCIFACT_FLAT_DIR --n 1000000 8841823 --out runs/scale

The corpus is SciFact's 5,183 real documents (their vectors from ``--flat``, a
``jpq-pyserini encode`` dir of SciFact; real docids, rows 0..5182) plus N synthetic
distractors that compete with them: distractor i of chunk c (``CHUNK`` vectors, generator
``numpy.random.default_rng(seed + c)``) is

    normalize(lam * x_a + (1 - lam) * x_b + sigma * g / sqrt(d)),   lam ~ U(0.5, 1), g ~ N(0, I)

with a, b uniform real documents: a noisy blend that sits near a real document, so it
outscores it for some of that document's queries. Nothing ever holds N float vectors:
OPQ48 is trained on the real documents plus a sample of distractors, then codes are added
chunk by chunk. The flat check (streamed the same way) reports how far the distractors pull
the uncompressed MiniLM ranking down and how many of its top-10 results they take.

At each N: the OPQ48 index (untrained), JPQ48 (``jpq-pyserini train``, defaults: dynamic
negatives, epoch chosen on ``train/dev``), JPQ48 with ``--negatives pool`` (dynamic within
each query's top 20,000, mined once: the cheap variant for large corpora), the
static-negatives ablation, and the query side trained on the 5,183 flat vectors
(``--target flat``, trained once, its query head included) searched on the OPQ48 index;
every system scored on SciFact test. Training runs as its own process, so
its peak RSS is its own. Prints one table and writes it, with the p-values, to
``OUT/scale.md`` and ``OUT/scale.json``.
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import faiss
import numpy as np

from jpq_pyserini.errors import Parser, UsageError, cli, positive_int
from jpq_pyserini.fsutil import atomic_dir
from jpq_pyserini.index import new_pq_index, pq_meta
from jpq_pyserini.indexdir import flat_vectors, read_index_dir, write_index_dir

CHUNK = 200_000
POOL = "JPQ48, negatives from a top-20,000 pool"
LAM_LOW, SIGMA = 0.5, 0.5
TRAIN_SAMPLE = 65_536             # vectors that train OPQ48 (256 per centroid)
BYTES_PER_DOC = 48 * 3 + 150      # codes in faiss, in torch and on write; docid string, list and dict


def distractors(real, n, chunk_index, seed):
    rng = np.random.default_rng(seed + chunk_index)
    a, b = rng.integers(len(real), size=n), rng.integers(len(real), size=n)
    lam = rng.uniform(LAM_LOW, 1.0, size=(n, 1)).astype(np.float32)
    noise = rng.standard_normal((n, real.shape[1]), dtype=np.float32) * (SIGMA / np.sqrt(real.shape[1]))
    v = lam * real[a] + (1 - lam) * real[b] + noise
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def chunks(real, n, seed, size=CHUNK):
    """(first distractor number, vectors) for every chunk, regenerated from the seed on demand."""
    for c, start in enumerate(range(0, n, size)):
        yield start, distractors(real, min(size, n - start), c, seed)


def check_memory(n):
    """One line, before any work, when the run would not fit in this machine's memory."""
    need = n * BYTES_PER_DOC + 2 * 2 ** 30  # plus the encoder, torch and faiss themselves
    with open("/proc/meminfo") as f:
        avail = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    if need > avail:
        raise UsageError(f"--n {n}: needs about {need / 2**30:.1f} GiB, {avail / 2**30:.1f} GiB is available")


def build_index(real, docids, n, seed, out):
    """The OPQ48 index dir over the real documents plus ``n`` distractors (skipped if built)."""
    if (out / "meta.json").exists():
        return out
    t0 = time.perf_counter()
    sample = np.concatenate([real, distractors(real, TRAIN_SAMPLE - len(real), 10**6, seed)])
    index = new_pq_index(real.shape[1], 48, 8, opq=True)
    index.train(sample)
    index.add(real)
    for _, vectors in chunks(real, n, seed):
        index.add(vectors)
    meta = pq_meta(real.shape[1], 48, 8, True, False, {"encoder": "sentence-transformers/all-MiniLM-L6-v2",
                                                       "pooling": "mean", "normalize": True})
    meta.update(corpus=f"scifact + {n} distractors (benchmarks/scale.py, seed {seed})",
                build_seconds=round(time.perf_counter() - t0, 1))
    with atomic_dir(out, overwrite=False) as tmp:
        write_index_dir(tmp, index, docids + [f"distractor-{i}" for i in range(n)], meta)
    return out


def flat_check(real, docids, n, seed, queries, qrels_split):
    """nDCG@10 of exact flat search over the real documents plus the distractors, streamed,
    and the share of the top 10 that distractors take."""
    scores, rows = faiss.knn(queries, real, 10, metric=faiss.METRIC_INNER_PRODUCT)
    for start, vectors in chunks(real, n, seed):
        d, i = faiss.knn(queries, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)
        both_s, both_i = np.concatenate([scores, d], 1), np.concatenate([rows, i + len(real) + start], 1)
        top = np.argsort(-both_s, 1)[:, :10]
        scores, rows = np.take_along_axis(both_s, top, 1), np.take_along_axis(both_i, top, 1)
    run = {q: {(docids[r] if r < len(real) else f"distractor-{r - len(real)}"): float(s)
               for s, r in zip(scores[j], rows[j])} for j, q in enumerate(qrels_split.qids)}
    return metrics(qrels_split, run)["ndcg@10"], float((rows >= len(real)).mean())


def metrics(split, run):
    from ranx import Qrels, Run, evaluate
    qrels = Qrels({q: split.qrels[q] for q in split.qids})
    out = evaluate(qrels, Run(run), ["ndcg@10", "recall@100"], return_mean=False)
    return {k: float(np.mean(v)) for k, v in out.items()} | {"per_query": out["ndcg@10"].tolist()}


def evaluate_test(encoder_dir, index_dir, split_name="jpq-pyserini/scifact/test"):
    """nDCG@10 and R@100 (and per-query nDCG@10) on SciFact test, through faiss's own search."""
    from jpq_pyserini.datasets import judged_queries
    from jpq_pyserini.encoder import QUERY_MAX_LENGTH, TextEncoder

    index, docids, _ = read_index_dir(index_dir)
    split = judged_queries(split_name, {d: i for i, d in enumerate(docids[:5183])}, "--test")
    encoder = TextEncoder(str(encoder_dir))
    encoder.config.max_length = QUERY_MAX_LENGTH
    q = encoder.encode([split.texts[i] for i in split.qids]).astype(np.float32)
    scores, rows = index.search(q, 100)
    run = {qid: {docids[r]: float(s) for s, r in zip(scores[j], rows[j])} for j, qid in enumerate(split.qids)}
    return metrics(split, run)


def train(out, *flags):
    """``jpq-pyserini train`` in its own process under ``/usr/bin/time -v`` (its wall clock from
    start to exit, set-up, mining and dev evaluation included, and its own peak RSS, written
    beside the output as ``OUT.time``); (summary, log lines, {wall_minutes, peak_rss_gib})."""
    timing = out.parent / f"{out.name}.time"
    if not (out / "train_summary.json").exists():
        cmd = ["/usr/bin/time", "-v", "-o", str(timing), sys.executable, "-m", "jpq_pyserini.train",
               "--output", str(out), *flags]
        with open(out.parent / f"{out.name}.log", "w") as log:
            if subprocess.run(cmd, stderr=log).returncode != 0:
                raise SystemExit(f"{' '.join(cmd)} failed: {out.parent / out.name}.log")
    summary = json.loads((out / "train_summary.json").read_text())
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    return summary, log, time_v(timing)


def time_v(path):
    """Wall clock (minutes) and peak RSS (GiB) from a ``/usr/bin/time -v`` report ({} without one)."""
    if not path.exists():
        return {}
    fields = dict(line.strip().rsplit(": ", 1) for line in path.read_text().splitlines() if ": " in line)
    h_m_s = [float(x) for x in fields["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":")]
    seconds = sum(x * 60 ** i for i, x in enumerate(reversed(h_m_s)))
    return {"wall_minutes": seconds / 60, "peak_rss_gib": int(fields["Maximum resident set size (kbytes)"]) / 2**20}


def ttest(a, b):
    from scipy.stats import ttest_rel
    return float(ttest_rel(a, b).pvalue)


def run_n(args, real, docids, n, test_split, queries):
    base = args.out / f"n{n}"
    index_dir = build_index(real, docids, n, args.seed, base / "opq48")
    rows = {}
    if n <= args.flat_check_max:
        ndcg, share = flat_check(real, docids, n, args.seed, queries, test_split)
        rows["flat (exact, uncompressed)"] = {"ndcg@10": ndcg, "distractors_in_top10": share}
    rows["OPQ48"] = evaluate_test(args.encoder, index_dir)
    rows["flat-fine-tuned encoder on OPQ48"] = evaluate_test(args.flat_ft / "encoder", index_dir)
    common = ["--index", str(index_dir), "--threads", str(args.threads), *args.train_flags]
    for name, extra in (("JPQ48", []), (POOL, ["--negatives", "pool"]),
                        ("JPQ48, static negatives", ["--negatives", "static"])):
        out = base / ("jpq48" if not extra else f"jpq48-{extra[-1]}")
        summary, log, timed = train(out, *common, *extra)
        steps = summary["steps"]
        rows[name] = {**evaluate_test(out / "encoder", out / "index"), **timed,
                      "seconds_per_step": summary["seconds"] / steps,
                      "mining_share": summary["sample_seconds"] / summary["seconds"],
                      "dev_seconds": float(np.mean([r["dev_seconds"] for r in log])),
                      "epochs": summary["epochs_run"], "best_epoch": summary["best"]["epoch"]}
    jpq = rows["JPQ48"]["per_query"]
    p = {"JPQ48 vs OPQ48": ttest(jpq, rows["OPQ48"]["per_query"]),
         "JPQ48 vs flat-fine-tuned on OPQ48": ttest(jpq, rows["flat-fine-tuned encoder on OPQ48"]["per_query"]),
         "JPQ48 dynamic vs static negatives": ttest(jpq, rows["JPQ48, static negatives"]["per_query"]),
         "JPQ48 dynamic vs pool negatives": ttest(jpq, rows[POOL]["per_query"]),
         "JPQ48 pool vs static negatives": ttest(rows[POOL]["per_query"],
                                                 rows["JPQ48, static negatives"]["per_query"])}
    return rows, p


def fmt(v, spec):
    return "" if v is None else format(v, spec)


def table(results):
    lines = ["| N distractors | system | nDCG@10 | R@100 | train wall min | s/step | mining share of steps | dev eval s | peak RSS GiB |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for n, (rows, _) in results.items():
        for name, r in rows.items():
            extra = f" ({r['distractors_in_top10']:.0%} of top 10 are distractors)" if "distractors_in_top10" in r else ""
            lines.append(f"| {n:,} | {name}{extra} | {fmt(r.get('ndcg@10'), '.4f')} | {fmt(r.get('recall@100'), '.4f')} "
                         f"| {fmt(r.get('wall_minutes'), '.1f')} | {fmt(r.get('seconds_per_step'), '.2f')} "
                         f"| {fmt(r.get('mining_share'), '.0%')} | {fmt(r.get('dev_seconds'), '.1f')} "
                         f"| {fmt(r.get('peak_rss_gib'), '.2f')} |")
    lines += ["", "| N distractors | paired t-test on SciFact test nDCG@10 | p |", "|---:|---|---:|"]
    lines += [f"| {n:,} | {name} | {v:.2g} |" for n, (_, p) in results.items() for name, v in p.items()]
    return "\n".join(lines)


def build_parser():
    p = Parser(prog="benchmarks/scale.py", description=__doc__.splitlines()[0])
    p.add_argument("--flat", required=True, help="SciFact flat index dir (jpq-pyserini encode)")
    p.add_argument("--n", type=positive_int, nargs="+", default=[1_000_000, 8_841_823], help="distractor counts")
    p.add_argument("--out", type=Path, default=Path("runs/scale"))
    p.add_argument("--encoder", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument("--flat-ft", type=Path, default=None,
                   help="a `train --target flat` output dir on --flat (default: trained here, once)")
    p.add_argument("--threads", type=positive_int, default=2)
    p.add_argument("--flat-check-max", type=int, default=1_000_000, help="run the flat check up to this N")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-flags", nargs=argparse.REMAINDER, default=[], help="passed to every train run")
    return p


@cli("benchmarks/scale.py")
def main(argv=None):
    from jpq_pyserini.datasets import judged_queries
    from jpq_pyserini.encoder import QUERY_MAX_LENGTH, TextEncoder

    args = build_parser().parse_args(argv)
    for n in args.n:
        check_memory(n)
    flat, docids, _ = read_index_dir(args.flat, "--flat")
    if len(docids) != 5183:
        raise UsageError(f"--flat {args.flat}: expected SciFact's 5,183 documents, found {len(docids)}")
    real = flat_vectors(flat, f"--flat {args.flat}")
    faiss.omp_set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.flat_ft is None:
        args.flat_ft = args.out / "flat-ft"
        train(args.flat_ft, "--index", str(args.flat), "--target", "flat", "--threads", str(args.threads),
              *args.train_flags)
    test_split = judged_queries("jpq-pyserini/scifact/test", {d: i for i, d in enumerate(docids)}, "--test")
    encoder = TextEncoder(args.encoder)
    encoder.config.max_length = QUERY_MAX_LENGTH
    queries = encoder.encode([test_split.texts[q] for q in test_split.qids]).astype(np.float32)
    results = {}
    for n in args.n:
        results[n] = run_n(args, real, docids, n, test_split, queries)
        report = table(results)
        print(report, flush=True)
        (args.out / "scale.md").write_text(f"`{' '.join(sys.argv)}`, {time.strftime('%Y-%m-%d')}\n\n{report}\n")
        (args.out / "scale.json").write_text(json.dumps(
            {str(k): {"systems": {s: {m: v for m, v in r.items() if m != "per_query"} for s, r in rows.items()},
                      "p": p} for k, (rows, p) in results.items()}, indent=2) + "\n")


if __name__ == "__main__":
    main()
