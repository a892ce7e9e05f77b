"""``jpq-pyserini reproduce eval/SPEC.yaml``: the paper's three research questions, end to end.

Q1 effectiveness vs compression (PQ, OPQ, JPQ over M), Q2 against other retrieval models
(BM25, flat, the flat-fine-tuned query encoder on flat and on PQ, OPQ, PQ, JPQ; index size,
latency, significance of JPQ against each), Q3 ablations at one M. Every artifact is built
by the same functions the verbs run and cached under ``$JPQ_PYSERINI_CACHE/artifacts`` by
a hash of its recipe, so a rerun reuses whatever has not changed. Exits 1, naming system
and metric, when a score falls outside the spec's tolerance.
"""
import argparse
import dataclasses
import hashlib
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import yaml

from .errors import UsageError, cli
from .fsutil import atomic_file, cache_dir

ROOT = Path(__file__).resolve().parent.parent
ABLATIONS = {"no-centroid-training": {"centroid_training": False}, "static-negatives": {"negatives": "static"},
             "mse-loss": {"loss": "mse"}}


# ---------------------------------------------------------------- spec and recipes
def _yaml(path, what):
    if not Path(path).is_file():
        raise UsageError(f"{what} {path}: no such file")
    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as e:
        raise UsageError(f"{what} {path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{what} {path}: expected a mapping")
    return data


def recipe(kind, name, base):
    path = base / kind / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (base / kind).glob("*.yaml"))
        raise UsageError(f"unknown {kind[:-2]} recipe '{name}' (known in {base / kind}: {', '.join(known) or 'none'})")
    return _yaml(path, f"{kind[:-2]} recipe")


def load_spec(path, quick=False):
    spec = _yaml(path, "SPEC")
    base = Path(path).resolve().parent.parent
    if not (base / "indexes").is_dir():
        base = ROOT
    for key in ("index", "train", "dev", "topics", "qrels"):
        if key not in spec:
            raise UsageError(f"SPEC {path}: missing '{key}'")
    spec["index_recipe"] = recipe("indexes", spec["index"], base)
    spec["encoder_recipe"] = recipe("encoders", spec["index_recipe"]["encoder"], base)
    if quick:
        spec.update(spec.get("quick") or {})
    expected = spec.get("expected") or {}
    for system, metrics in expected.items():
        for metric, value in (metrics or {}).items():
            if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)
                    and value[1] >= 0):
                raise UsageError(f"SPEC {path}: expected.{system}.{metric} must be [score, tolerance >= 0], got {value!r}")
    return spec


def _key(obj):
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:10]


def artifact(name, recipe_obj, build):
    """Build once per recipe: ``build(path)`` must create ``path``; later calls reuse it."""
    path = cache_dir("artifacts") / f"{name}-{_key(recipe_obj)}"
    if not path.exists():
        t0 = time.perf_counter()
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        build(tmp)  # a killed build leaves only the temporary name, never a half artifact
        os.replace(tmp, path)
        print(f"[reproduce] built {name} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    else:
        print(f"[reproduce] reusing {name} ({path})", file=sys.stderr)
    return path


# ---------------------------------------------------------------- systems
def jpq_init(spec, m, systems):
    """Which untrained index JPQ starts from at this M: ``jpq_init`` pq | opq | best-on-dev.

    best-on-dev compares PQ and OPQ with the untrained encoder on the dev split (never the
    test split): on SciFact OPQ is far better at M <= 24 and equal at M >= 48.
    """
    choice = spec.get("jpq_init", "best-on-dev")
    if choice in ("pq", "opq"):
        return choice
    if f"opq{m}" not in systems:
        return "pq"
    from .encoder import TextEncoder
    from .indexdir import read_index_dir
    from .codebook import PQCodebook
    from .train import evaluate_dev, load_split

    encoder = TextEncoder(spec["encoder_recipe"]["model"])
    encoder.config.max_length = spec["encoder_recipe"].get("query_max_length", 32)
    dev_ndcg = {}
    for name in ("pq", "opq"):
        index, docids, _ = read_index_dir(systems[f"{name}{m}"][0])
        qids, texts, _, qrels = load_split(spec["dev"], {d: i for i, d in enumerate(docids)}, "dev")
        dev_ndcg[name] = evaluate_dev(encoder, PQCodebook.from_faiss(index), qids, texts, qrels, docids)["ndcg@10"]
    best = max(dev_ndcg, key=dev_ndcg.get)
    print(f"[reproduce] JPQ at M={m} starts from {best.upper()} (dev nDCG@10: PQ {dev_ndcg['pq']:.4f}, "
          f"OPQ {dev_ndcg['opq']:.4f})", file=sys.stderr)
    return best


def build_systems(spec, progress=False):
    """{system name: (index dir, encoder, bytes/doc)} plus the BM25 marker, building what is missing."""
    from .encode import encode_corpus
    from .index import index_flat_dir
    from .indexdir import read_meta
    from .train import TrainConfig, train_jpq

    enc, idx = spec["encoder_recipe"], spec["index_recipe"]
    model = enc["model"]
    flat_recipe = {"corpus": idx["corpus"], "model": model, "max_length": enc.get("doc_max_length", 256)}
    flat = artifact("flat", flat_recipe, lambda p: encode_corpus(idx["corpus"], p, model, flat_recipe["max_length"],
                                                                 progress=progress))
    nbits = idx.get("pq_nbits", 8)
    flat_bytes = 4 * read_meta(flat)["dim"]
    systems = {"bm25": ("bm25", None, None), "flat": (flat, model, flat_bytes)}
    tr = {**enc.get("train", {}), **({"epochs": spec["epochs"]} if "epochs" in spec else {})}

    def trained(name, index_dir, **overrides):
        cfg = TrainConfig(index=str(index_dir), output="", train=spec["train"], dev=spec["dev"], encoder=model,
                          query_max_length=enc.get("query_max_length", 32), **tr, **overrides)
        rec = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "output"}
        path = artifact(name, rec, lambda p: train_jpq(dataclasses.replace(cfg, output=str(p)), progress=progress))
        return path

    init = {}
    for m in spec["pq_m"]:
        for opq in [False] + ([True] if "opq" in spec.get("methods", ["opq"]) else []):
            name = f"{'opq' if opq else 'pq'}{m}"
            rec = {**flat_recipe, "m": m, "nbits": nbits, "opq": opq}
            path = artifact(name, rec, lambda p, m=m, opq=opq: index_flat_dir(flat, p, m, nbits, opq, threads=1))
            systems[name] = (path, model, m * nbits / 8)
        init[m] = jpq_init(spec, m, systems)
        jpq = trained(f"jpq{m}", systems[f"{init[m]}{m}"][0])
        systems[f"jpq{m}"] = (jpq / "index", jpq / "encoder", m * nbits / 8)
    main = spec.get("main_m", spec["pq_m"][0])
    systems["init"] = init
    if main not in spec["pq_m"]:
        raise UsageError(f"SPEC: main_m {main} is not in pq_m {spec['pq_m']}")
    flat_ft = trained("flat-ft", flat, target="flat")
    systems["flat-ft"] = (flat, flat_ft / "encoder", flat_bytes)
    # the honest baseline searches the same untrained index that JPQ starts from
    systems[f"flat-ft-on-{init[main]}{main}"] = (systems[f"{init[main]}{main}"][0], flat_ft / "encoder", main * nbits / 8)
    for ab in spec.get("ablations", []):
        if ab not in ABLATIONS:
            raise UsageError(f"SPEC: unknown ablation '{ab}' (known: {', '.join(ABLATIONS)})")
        extra = {"flat": str(flat)} if ab == "mse-loss" else {}
        path = trained(f"jpq{main}-{ab}", systems[f"{init[main]}{main}"][0], **ABLATIONS[ab], **extra)
        systems[f"jpq{main}-{ab}"] = (path / "index", path / "encoder", main * nbits / 8)
    return systems


def run_system(name, system, spec, out_dir):
    """Search the topics with Pyserini's searchers; returns (run file, encode ms/q, search ms/q, index MB).

    Latency is measured with one thread (torch and faiss), query encoding and index search
    apart: an untrained encoder reads queries up to 64 tokens and a JPQ one up to 32, which
    would otherwise blur the index comparison.
    """
    import torch
    import faiss
    from .datasets import iter_queries, load_dataset

    queries = iter_queries(load_dataset(spec["topics"]), spec["topics"])
    qids, texts = [q for q, _ in queries], [t for _, t in queries]
    index_dir, encoder, _ = system
    k = spec.get("hits", 1000)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    try:
        if name == "bm25":
            from pyserini.search.lucene import LuceneSearcher
            from .bm25 import lucene_index
            lucene = lucene_index(spec["index_recipe"]["corpus"])
            searcher = LuceneSearcher(str(lucene))
            searcher.set_bm25(0.9, 0.4)
            size = sum(f.stat().st_size for f in lucene.rglob("*") if f.is_file())
            searcher.batch_search(texts[:8], qids[:8], k=10, threads=1)  # warm-up
            t0 = time.perf_counter()
            results = searcher.batch_search(texts, qids, k=k, threads=1)
            encode_ms, search_ms = 0.0, 1000 * (time.perf_counter() - t0) / len(qids)
        else:
            from pyserini.search.faiss import FaissSearcher
            from .query_encoder import JpqQueryEncoder
            searcher = FaissSearcher(str(index_dir), JpqQueryEncoder(str(encoder)))
            size = (Path(index_dir) / "index").stat().st_size
            searcher.batch_search(texts[:8], qids[:8], k=10, threads=1)  # warm-up
            t0 = time.perf_counter()
            vectors = searcher.query_encoder.encode_batch(texts)
            t1 = time.perf_counter()
            results = searcher.batch_search(vectors, qids, k=k, threads=1)
            encode_ms = 1000 * (t1 - t0) / len(qids)
            search_ms = 1000 * (time.perf_counter() - t1) / len(qids)
    finally:
        torch.set_num_threads(threads)
        faiss.omp_set_num_threads(threads)
    path = out_dir / "runs" / f"{name}.trec"
    with atomic_file(path) as tmp:
        with open(tmp, "w") as f:
            for qid in qids:
                for rank, hit in enumerate(results[qid], 1):
                    f.write(f"{qid} Q0 {hit.docid} {rank} {hit.score:.6f} {name}\n")
    return path, encode_ms, search_ms, size / 2 ** 20


# ---------------------------------------------------------------- tables and plot
def _fmt(v):
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def table(rows, columns):
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def plot(scores, spec, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for method, style in (("pq", "o--"), ("opq", "s--"), ("jpq", "D-")):
        if f"{method}{spec['pq_m'][0]}" not in scores:
            continue
        xs = [m * spec["index_recipe"].get("pq_nbits", 8) / 8 for m in spec["pq_m"]]
        ys = [scores[f"{method}{m}"]["ndcg@10"] for m in spec["pq_m"]]
        ax.plot(xs, ys, style, label=method.upper())
    for ref, style in (("flat", ":"), ("bm25", "-.")):
        ax.axhline(scores[ref]["ndcg@10"], linestyle=style, color="gray", label=f"{ref} (uncompressed)" if ref == "flat" else "BM25")
    ax.set_xscale("log")
    ticks = [m * spec["index_recipe"].get("pq_nbits", 8) / 8 for m in spec["pq_m"]]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("bytes per document (log scale)")
    ax.set_ylabel("nDCG@10")
    ax.set_title(f"{spec['name']}: effectiveness vs compression")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def reproduce(spec_path, output, quick=False, progress=False):
    from ranx import Qrels, Run, compare, evaluate
    from ._bootstrap import require_java
    from .datasets import load_dataset, load_qrels

    require_java()
    spec = load_spec(spec_path, quick)
    t_start = time.perf_counter()
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    systems = build_systems(spec, progress)
    init = systems.pop("init")
    qrels = Qrels(load_qrels(load_dataset(spec["qrels"]), spec["qrels"]))
    metrics = spec["metrics"]
    scores, runs, info = {}, {}, {}
    for name, system in systems.items():
        path, encode_ms, search_ms, mb = run_system(name, system, spec, out)
        runs[name] = Run.from_file(str(path), kind="trec", name=name)
        scores[name] = {k: float(v) for k, v in evaluate(qrels, runs[name], metrics, make_comparable=True).items()}
        info[name] = {"encode ms/q": f"{encode_ms:.2f}", "search ms/q": f"{search_ms:.2f}", "index MB": f"{mb:.2f}", "bytes/doc": f"{system[2]:g}" if system[2] else "–"}
    main = spec.get("main_m", spec["pq_m"][0])
    dim_bytes = systems["flat"][2]

    q1 = [{"system": f"{meth.upper()} M={m}" + (f" (from {init[m].upper()})" if meth == "jpq" else ""), "bytes/doc": f"{m * spec['index_recipe'].get('pq_nbits', 8) / 8:g}",
           "compression": f"{dim_bytes / (m * spec['index_recipe'].get('pq_nbits', 8) / 8):g}x",
           **scores[f"{meth}{m}"]} for m in spec["pq_m"] for meth in ("pq", "opq", "jpq") if f"{meth}{m}" in scores]
    q2_names = [n for n in ["bm25", "flat", "flat-ft", f"flat-ft-on-{init[main]}{main}", f"pq{main}", f"opq{main}", f"jpq{main}"]
                if n in scores]
    jpq = f"jpq{main}"
    report = compare(qrels, [runs[n] for n in q2_names], metrics, stat_test="student", make_comparable=True)
    q2 = []
    for n in q2_names:
        row = {"system": n, **info[n], **scores[n]}
        if n != jpq:
            p = report.comparisons[jpq, n][metrics[0]]["p_value"]
            row[f"JPQ vs this, p ({metrics[0]})"] = f"{p:.2g}{' *' if p < 0.05 else ''}"
        q2.append(row)
    q3 = [{"system": n, **scores[n]} for n in [jpq] + [f"{jpq}-{a}" for a in spec.get("ablations", [])]]
    cols = ["system"] + metrics
    q2_text = table(q2, ["system", "bytes/doc", "index MB", "encode ms/q", "search ms/q"] + metrics + [f"JPQ vs this, p ({metrics[0]})"])
    text = "\n\n".join([
        f"# {spec['name']}{' (quick)' if quick else ''}",
        f"Machine: {platform.machine()}, {platform.processor() or platform.platform()}; "
        f"{__import__('os').cpu_count()} CPUs; took {time.perf_counter() - t_start:.0f} s "
        f"(artifacts reused where cached); topics {spec['topics']}.",
        "## Q1: effectiveness vs compression", table(q1, ["system", "bytes/doc", "compression"] + metrics),
        "## Q2: against other retrieval models (latency per query, one thread, through Pyserini's searchers: "
        "query encoding and index search apart; * p<0.05, paired t-test against JPQ)",
        q2_text,
        f"## Q3: ablations at M={main}", table(q3, cols)])
    plot(scores, spec, out / "ndcg_vs_bytes.png")
    with atomic_file(out / "report.md") as tmp:
        tmp.write_text(text + "\n")
    with atomic_file(out / "scores.json") as tmp:
        tmp.write_text(json.dumps({"scores": scores, "info": info}, indent=2) + "\n")
    failures = []
    for system, expected in (spec.get("expected") or {}).items():
        for metric, (value, tol) in expected.items():
            got = scores.get(system, {}).get(metric)
            if got is None:
                failures.append(f"{system} {metric}: not measured")
            elif abs(got - value) > tol:
                failures.append(f"{system} {metric}: {got:.4f} outside {value:.4f} ± {tol}")
    return text, q2_text, failures, out


@cli("jpq-pyserini reproduce")
def main(argv=None):
    p = argparse.ArgumentParser(prog="jpq-pyserini reproduce", description=__doc__.splitlines()[0])
    p.add_argument("spec", help="eval/<spec>.yaml")
    p.add_argument("--quick", action="store_true", help="the spec's reduced variant (minutes)")
    p.add_argument("--output", default=None, help="report dir (default: runs/reproduce/<spec name>)")
    args = p.parse_args(argv)
    spec_name = Path(args.spec).stem + ("-quick" if args.quick else "")
    _, q2_text, failures, out = reproduce(args.spec, args.output or f"runs/reproduce/{spec_name}", args.quick, progress=True)
    print(q2_text)
    print(f"report: {out / 'report.md'}  plot: {out / 'ndcg_vs_bytes.png'}  runs: {out / 'runs'}")
    if failures:
        for f in failures:
            print(f"jpq-pyserini reproduce: outside tolerance: {f}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
