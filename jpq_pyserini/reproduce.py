"""``jpq-pyserini reproduce eval/SPEC.yaml``: the paper's three research questions, end to end.

Q1 effectiveness vs compression (PQ, OPQ, JPQ over M), Q2 against other retrieval models
(BM25, flat, the flat-fine-tuned query encoder on flat and on PQ, OPQ, PQ, JPQ; index size,
latency, significance of JPQ against each), Q3 ablations at one M. Every artifact is built
by the same functions the verbs run and cached under ``$JPQ_PYSERINI_CACHE/artifacts`` by
a hash of its recipe, so a rerun reuses whatever has not changed. Exits 1, naming system
and metric, when a score falls outside the spec's tolerance.
"""
import dataclasses
import hashlib
import json
import os
import platform
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .encoder import QUERY_MAX_LENGTH
from .errors import Parser, UsageError, cli
from .fsutil import atomic_file, cache_dir, check_writable, lock_output, replace_dir, temp_dir_for

ROOT = Path(__file__).resolve().parent.parent
ABLATIONS = {"no-centroid-training": {"centroid_training": False}, "static-negatives": {"negatives": "static"},
             "mse-loss": {"loss": "mse"}}
# TrainConfig's label-free and pool options: left out of an artifact's key while unset, so that labelled
# artifacts keep the keys they had without them
UNKEYED_UNSET = ("teacher", "queries", "pseudo_queries", "corpus", "watch", "pool_size")
# label-free JPQ (train --teacher) with its defaults: real queries without their qrels, or generated ones
LABEL_FREE = {
    "queries": lambda spec, flat: {"teacher": str(flat), "queries": spec.train, "train": None, "dev": None},
    "pseudo": lambda spec, flat: {"teacher": str(flat), "train": None, "dev": None},
}


# ---------------------------------------------------------------- spec and recipes
@dataclass
class EncoderRecipe:
    """``encoders/NAME.yaml``: the frozen document encoder, which is also JPQ's initial query encoder."""
    name: str
    model: str
    doc_max_length: int = 256
    query_max_length: int = QUERY_MAX_LENGTH
    train: dict = field(default_factory=dict)      # TrainConfig overrides used with this encoder


@dataclass
class IndexRecipe:
    """``indexes/NAME.yaml``: the corpus and document encoder every compressed index is built from."""
    name: str
    corpus: str
    encoder: str                                    # an encoders/ recipe name
    pq_nbits: int = 8


@dataclass
class Spec:
    """``eval/NAME.yaml``: what to build, search and check. Each default is stated here once."""
    name: str
    index: str                                      # an indexes/ recipe name
    train: str                                      # JPQ training queries + qrels
    dev: str                                        # epoch selection and the JPQ start-point choice
    topics: str                                     # what the tables report (never used in training)
    qrels: str
    pq_m: list
    metrics: list = field(default_factory=lambda: ["ndcg@10", "mrr@10", "recall@100"])
    hits: int = 1000
    main_m: int = None                              # Q2 and Q3 run at this M (default: the first of pq_m)
    methods: list = field(default_factory=lambda: ["pq", "opq"])   # untrained indexes built at every M
    ablations: list = field(default_factory=list)   # Q3 rows, names in ABLATIONS
    label_free: list = field(default_factory=list)  # Q1 rows trained without labels: queries | pseudo
    jpq_init: str = "best-on-dev"                   # pq | opq | best-on-dev: the index JPQ starts from
    epochs: int = None                              # overrides the encoder recipe's training epochs
    seed: int = None                                # k-means/OPQ and training seed (None: the verbs' defaults)
    # expected[system][metric] = [score, tolerance]; the system "flat-ft-on-init{M}" names the
    # fine-tuned-on-flat encoder on whichever index JPQ started from at that M
    expected: dict = field(default_factory=dict)
    quick: dict = field(default_factory=dict)       # overrides for --quick
    index_recipe: IndexRecipe = None
    encoder_recipe: EncoderRecipe = None

    @property
    def nbits(self):
        return self.index_recipe.pq_nbits

    def bytes_per_doc(self, m):
        return m * self.nbits / 8


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


def _expand(value):
    """``${VAR:-default}`` in a spec's strings: where a collection lives differs per machine
    (NFCorpus may not be redistributed, so a spec names where the user keeps it)."""
    if not isinstance(value, str):
        return value
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), value)


def _typed(cls, data, where):
    data = {k: _expand(v) for k, v in data.items()}
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UsageError(f"{where}: unknown key '{unknown[0]}' (known: {', '.join(sorted(known))})")
    try:
        return cls(**data)
    except TypeError as e:
        raise UsageError(f"{where}: {e}") from None


def recipe(kind, name, base):
    path = base / kind / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (base / kind).glob("*.yaml"))
        raise UsageError(f"unknown {kind[:-2]} recipe '{name}' (known in {base / kind}: {', '.join(known) or 'none'})")
    cls = IndexRecipe if kind == "indexes" else EncoderRecipe
    return _typed(cls, {"name": name, **_yaml(path, f"{kind[:-2]} recipe")}, f"{kind[:-2]} recipe {path}")


def check_settings(spec, path):
    """Everything that would otherwise fail only after encoding or training."""
    from .encoder import model_dim
    from .eval import check_metrics
    from .index import check_pq_shape

    def need(ok, key, what):
        if not ok:
            raise UsageError(f"SPEC {path}: {key} {getattr(spec, key)!r}: expected {what}")
    need(isinstance(spec.pq_m, list) and spec.pq_m and all(isinstance(m, int) and m >= 1 for m in spec.pq_m),
         "pq_m", "a list of positive integers")
    need(isinstance(spec.hits, int) and spec.hits >= 1, "hits", "an integer >= 1")
    need(spec.epochs is None or (isinstance(spec.epochs, int) and spec.epochs >= 1), "epochs", "an integer >= 1")
    need(spec.seed is None or (isinstance(spec.seed, int) and spec.seed >= 0), "seed", "an integer >= 0")
    need(isinstance(spec.methods, list) and set(spec.methods) <= {"pq", "opq"}, "methods", "a list of pq, opq")
    need(spec.jpq_init in ("pq", "opq", "best-on-dev"), "jpq_init", "pq, opq or best-on-dev")
    need(isinstance(spec.label_free, list) and set(spec.label_free) <= set(LABEL_FREE), "label_free",
         f"a list of {', '.join(LABEL_FREE)}")
    need(isinstance(spec.metrics, list) and spec.metrics, "metrics", "a list of ranx metric names")
    check_metrics(spec.metrics, f"SPEC {path}: metrics:")
    dim = model_dim(spec.encoder_recipe.model, f"encoder recipe {spec.encoder_recipe.name}: model")
    for m in spec.pq_m:
        try:
            check_pq_shape(dim, m, spec.nbits)
        except UsageError as e:
            raise UsageError(f"SPEC {path}: pq_m: {str(e).replace('--pq-m ', '', 1).replace('--pq-nbits', 'pq_nbits')}") from None


def load_spec(path, quick=False, seed=None):
    data = _yaml(path, "SPEC")
    base = Path(path).resolve().parent.parent
    if not (base / "indexes").is_dir():
        base = ROOT
    for key in ("index", "train", "dev", "topics", "qrels"):
        if key not in data:
            raise UsageError(f"SPEC {path}: missing '{key}'")
    if quick:
        data = {**data, **(data.get("quick") or {})}
    if seed is not None:
        data["seed"] = seed
    data.setdefault("name", Path(path).stem)
    spec = _typed(Spec, data, f"SPEC {path}")
    spec.index_recipe = recipe("indexes", spec.index, base)
    spec.encoder_recipe = recipe("encoders", spec.index_recipe.encoder, base)
    spec.main_m = spec.main_m or spec.pq_m[0]
    if spec.main_m not in spec.pq_m:
        raise UsageError(f"SPEC {path}: main_m {spec.main_m} is not in pq_m {spec.pq_m}")
    unknown = [a for a in spec.ablations if a not in ABLATIONS]
    if unknown:
        raise UsageError(f"SPEC {path}: unknown ablation '{unknown[0]}' (known: {', '.join(ABLATIONS)})")
    check_settings(spec, path)
    for system, metrics in (spec.expected or {}).items():
        for metric, value in (metrics or {}).items():
            if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)
                    and value[1] >= 0):
                raise UsageError(f"SPEC {path}: expected.{system}.{metric} must be [score, tolerance >= 0], got {value!r}")
    return spec


def _key(obj):
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:10]


def artifact(name, recipe_obj, build):
    """Build once per recipe: ``build(path)`` must fill the empty dir ``path``; later calls reuse
    it. A killed build leaves only a temporary name, never a half artifact."""
    path = cache_dir("artifacts") / f"{name}-{_key(recipe_obj)}"
    if not path.exists():
        t0 = time.perf_counter()
        tmp = temp_dir_for(path)
        try:
            build(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        os.replace(tmp, path)
        print(f"[reproduce] built {name} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    else:
        print(f"[reproduce] reusing {name} ({path})", file=sys.stderr)
    return path


# ---------------------------------------------------------------- systems
@dataclass
class System:
    """One row of the tables: what Pyserini searches."""
    name: str
    index_dir: object = None                        # None: BM25 through Lucene
    encoder: object = None
    bytes_per_doc: float = None
    hybrid: bool = False                            # fused with BM25 (fusion.py), weight chosen on dev


def jpq_init(spec, m, systems):
    """Which untrained index JPQ starts from at this M: ``jpq_init`` pq | opq | best-on-dev.

    best-on-dev compares PQ and OPQ with the untrained encoder on the dev split (never the
    test split): on SciFact OPQ is far better at M <= 24 and equal at M >= 48.
    """
    if spec.jpq_init in ("pq", "opq"):
        return spec.jpq_init
    if f"opq{m}" not in systems:
        return "pq"
    from .encoder import TextEncoder
    from .datasets import judged_queries
    from .indexdir import read_index_dir
    from .codebook import PQCodebook
    from .retrieval import Retriever, evaluate_dev, text_queries

    encoder = TextEncoder(spec.encoder_recipe.model)
    encoder.config.max_length = spec.encoder_recipe.query_max_length
    dev_ndcg = {}
    for name in ("pq", "opq"):
        index, docids, _ = read_index_dir(systems[f"{name}{m}"].index_dir)
        split = judged_queries(spec.dev, {d: i for i, d in enumerate(docids)}, "dev")
        retriever = Retriever(PQCodebook.from_faiss(index), index, device=encoder.device)
        dev_ndcg[name] = evaluate_dev(text_queries(encoder, split), retriever, split, docids)["ndcg@10"]
    best = max(dev_ndcg, key=dev_ndcg.get)
    print(f"[reproduce] JPQ at M={m} starts from {best.upper()} (dev nDCG@10: PQ {dev_ndcg['pq']:.4f}, "
          f"OPQ {dev_ndcg['opq']:.4f})", file=sys.stderr)
    return best


def training_key(cfg):
    """The recipe a trained artifact is cached under: its settings, less where it is written.
    Layout 2: the query head in encoder/, the index plain PQ with its assignment centroids."""
    cfg = dataclasses.replace(cfg).check()  # the defaults that depend on labels, as train fills them
    return {**{k: v for k, v in dataclasses.asdict(cfg).items()
               if k != "output" and not (k in UNKEYED_UNSET and v is None)}, "layout": 2}


def build_systems(spec, progress=False):
    """({system name: System}, {M: the index JPQ started from}), building what is missing."""
    from .encode import encode_corpus
    from .index import index_flat_dir
    from .indexdir import read_meta
    from .train import TrainConfig, train_jpq

    enc, corpus = spec.encoder_recipe, spec.index_recipe.corpus
    flat_recipe = {"corpus": corpus, "model": enc.model, "max_length": enc.doc_max_length}
    flat = artifact("flat", flat_recipe, lambda p: encode_corpus(corpus, p, enc.model, enc.doc_max_length,
                                                                 progress=progress))
    systems = {"bm25": System("bm25"), "flat": System("flat", flat, enc.model, 4 * read_meta(flat)["dim"])}
    seeded = {"seed": spec.seed} if spec.seed is not None else {}
    tr = {**enc.train, **({"epochs": spec.epochs} if spec.epochs else {}), **seeded}

    def trained(name, index_dir, **overrides):
        cfg = TrainConfig(**{"index": str(index_dir), "output": "", "train": spec.train, "dev": spec.dev,
                             "encoder": enc.model, "query_max_length": enc.query_max_length, **tr, **overrides})
        return artifact(name, training_key(cfg), lambda p: train_jpq(dataclasses.replace(cfg, output=str(p)),
                                                                     progress=progress))

    def add_trained(name, index_dir, m, **overrides):
        path = trained(name, index_dir, **overrides)
        systems[name] = System(name, path / "index", path / "encoder", spec.bytes_per_doc(m))

    init = {}
    for m in spec.pq_m:
        for opq in [False] + ([True] if "opq" in spec.methods else []):
            name = f"{'opq' if opq else 'pq'}{m}"
            rec = {**flat_recipe, "m": m, "nbits": spec.nbits, "opq": opq, **seeded}
            path = artifact(name, rec, lambda p, m=m, opq=opq: index_flat_dir(flat, p, m, spec.nbits, opq, threads=1,
                                                                              **seeded))
            systems[name] = System(name, path, enc.model, spec.bytes_per_doc(m))
        init[m] = jpq_init(spec, m, systems)
        add_trained(f"jpq{m}", systems[f"{init[m]}{m}"].index_dir, m)
        for source in spec.label_free:  # from OPQ (no qrels choose the start either), the flat index teaching
            start = systems.get(f"opq{m}", systems[f"pq{m}"])
            add_trained(f"lf-{source}{m}", start.index_dir, m, **LABEL_FREE[source](spec, flat))
    main, start = spec.main_m, systems[f"{init[spec.main_m]}{spec.main_m}"]
    flat_ft = trained("flat-ft", flat, target="flat")
    systems["flat-ft"] = System("flat-ft", flat_ft / "index", flat_ft / "encoder", systems["flat"].bytes_per_doc)
    # the honest baseline searches the same untrained index that JPQ starts from, at every M,
    # with the flat-trained query encoder (its head included)
    for m in spec.pq_m:
        base = systems[f"{init[m]}{m}"]
        name = f"flat-ft-on-{base.name}"
        systems[name] = System(name, base.index_dir, flat_ft / "encoder", base.bytes_per_doc)
    for ab in spec.ablations:
        extra = {"flat": str(flat)} if ab == "mse-loss" else {}
        add_trained(f"jpq{main}-{ab}", start.index_dir, main, **ABLATIONS[ab], **extra)
    jpq = systems[f"jpq{main}"]
    systems[f"bm25+jpq{main}"] = System(f"bm25+jpq{main}", jpq.index_dir, jpq.encoder, jpq.bytes_per_doc, hybrid=True)
    return systems, init


def _size(folder):
    return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())


def run_system(system, spec, out_dir):
    """Search the topics with Pyserini's searchers; returns (run file, encode ms/q, search ms/q,
    index MB, the fusion weight's dev record or None).

    Latency is measured with one thread (torch and faiss), query encoding and index search
    apart (a hybrid's encoding is inside its search time).
    """
    note = None
    from .bm25 import B, K1, lucene_index
    from .datasets import iter_queries, load_dataset, load_qrels
    from .index import omp_threads
    from .runs import write_trec

    queries = iter_queries(load_dataset(spec.topics), spec.topics)
    qids, texts = [q for q, _ in queries], [t for _, t in queries]
    with omp_threads(1):  # torch's threads too: one OpenMP runtime
        if system.hybrid:
            from . import fusion
            lucene = lucene_index(spec.index_recipe.corpus)
            hybrid = fusion.searcher(system.index_dir, system.encoder, lucene)
            dev = iter_queries(load_dataset(spec.dev), spec.dev)
            alpha, grid = fusion.choose_alpha(fusion.SideHits.search(hybrid, dev, spec.hits),
                                              load_qrels(load_dataset(spec.dev), spec.dev, "dev"), spec.hits)
            note = {"alpha": alpha, "normalization": fusion.NORMALIZATION, "dev": spec.dev, "dev ndcg@10": grid}
            size = (Path(system.index_dir) / "index").stat().st_size + _size(lucene)
            fusion.SideHits.search(hybrid, queries[:8], 10)  # warm-up
            t0 = time.perf_counter()
            results = fusion.SideHits.search(hybrid, queries, spec.hits).fuse(alpha, spec.hits)
            encode_ms, search_ms = 0.0, 1000 * (time.perf_counter() - t0) / len(qids)
        elif system.index_dir is None:
            from pyserini.search.lucene import LuceneSearcher
            lucene = lucene_index(spec.index_recipe.corpus)
            searcher = LuceneSearcher(str(lucene))
            searcher.set_bm25(K1, B)
            size = _size(lucene)
            searcher.batch_search(texts[:8], qids[:8], k=10, threads=1)  # warm-up
            t0 = time.perf_counter()
            results = searcher.batch_search(texts, qids, k=spec.hits, threads=1)
            encode_ms, search_ms = 0.0, 1000 * (time.perf_counter() - t0) / len(qids)
        else:
            from pyserini.search.faiss import FaissSearcher
            from .query_encoder import JpqQueryEncoder
            searcher = FaissSearcher(str(system.index_dir), JpqQueryEncoder(str(system.encoder)))
            size = (Path(system.index_dir) / "index").stat().st_size
            searcher.batch_search(texts[:8], qids[:8], k=10, threads=1)  # warm-up
            t0 = time.perf_counter()
            vectors = searcher.query_encoder.encode_batch(texts)
            t1 = time.perf_counter()
            results = searcher.batch_search(vectors, qids, k=spec.hits, threads=1)
            encode_ms = 1000 * (t1 - t0) / len(qids)
            search_ms = 1000 * (time.perf_counter() - t1) / len(qids)
    path = out_dir / "runs" / f"{system.name}.trec"
    with atomic_file(path) as tmp:
        write_trec(tmp, {qid: results[qid] for qid in qids}, system.name)
    return path, encode_ms, search_ms, size / 2 ** 20, note


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
    xs = [spec.bytes_per_doc(m) for m in spec.pq_m]
    for method, style in (("pq", "o--"), ("opq", "s--"), ("jpq", "D-")):
        if f"{method}{spec.pq_m[0]}" in scores:
            ax.plot(xs, [scores[f"{method}{m}"]["ndcg@10"] for m in spec.pq_m], style, label=method.upper())
    for ref, style in (("flat", ":"), ("bm25", "-.")):
        ax.axhline(scores[ref]["ndcg@10"], linestyle=style, color="gray", label=f"{ref} (uncompressed)" if ref == "flat" else "BM25")
    ax.set_xscale("log")
    ax.set_xticks(xs, [f"{t:g}" for t in xs])
    ax.minorticks_off()
    ax.set_xlabel("bytes per document (log scale)")
    ax.set_ylabel("nDCG@10")
    ax.set_title(f"{spec.name}: effectiveness vs compression")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def tables(spec, scores, runs, info, init, qrels):
    """The Q1, Q2 and Q3 tables (markdown) and the Q2 one alone."""
    from ranx import compare

    metrics, main = spec.metrics, spec.main_m
    flat_bytes = float(info["flat"]["bytes/doc"])
    q1 = []
    for m in spec.pq_m:
        ft = f"flat-ft-on-{init[m]}{m}"
        for name, label in [(f"pq{m}", f"PQ M={m}"), (f"opq{m}", f"OPQ M={m}"),
                            (ft, f"flat-fine-tuned encoder on {init[m].upper()} M={m}"),
                            (f"lf-queries{m}", f"label-free JPQ M={m}, training queries without qrels"),
                            (f"lf-pseudo{m}", f"label-free JPQ M={m}, pseudo-queries"),
                            (f"jpq{m}", f"JPQ M={m} (from {init[m].upper()})")]:
            if name in scores:
                q1.append({"system": label, "bytes/doc": f"{spec.bytes_per_doc(m):g}",
                           "compression": f"{flat_bytes / spec.bytes_per_doc(m):g}x", **scores[name]})
        p = compare(qrels, [runs[f"jpq{m}"], runs[ft]], metrics[:1], stat_test="student",
                    make_comparable=True).comparisons[f"jpq{m}", ft][metrics[0]]["p_value"]
        q1[-1][f"JPQ vs flat-fine-tuned, p ({metrics[0]})"] = f"{p:.2g}{' *' if p < 0.05 else ''}"
    jpq = f"jpq{main}"
    q2_names = [n for n in ["bm25", "flat", "flat-ft", f"flat-ft-on-{init[main]}{main}", f"pq{main}", f"opq{main}",
                            f"bm25+{jpq}", jpq] if n in scores]
    report = compare(qrels, [runs[n] for n in q2_names], metrics, stat_test="student", make_comparable=True)
    q2 = []
    for n in q2_names:
        row = {"system": n, **info[n], **scores[n]}
        if n != jpq:
            p = report.comparisons[jpq, n][metrics[0]]["p_value"]
            row[f"JPQ vs this, p ({metrics[0]})"] = f"{p:.2g}{' *' if p < 0.05 else ''}"
        q2.append(row)
    q3 = [{"system": n, **scores[n]} for n in [jpq] + [f"{jpq}-{a}" for a in spec.ablations]]
    q2_text = table(q2, ["system", "bytes/doc", "index MB", "encode ms/q", "search ms/q"] + metrics
                    + [f"JPQ vs this, p ({metrics[0]})"])
    q1_cols = ["system", "bytes/doc", "compression"] + metrics + [f"JPQ vs flat-fine-tuned, p ({metrics[0]})"]
    return [("## Q1: effectiveness vs compression (the flat-fine-tuned encoder searched on the index JPQ starts "
             "from; * p<0.05, paired t-test)", table(q1, q1_cols)),
            ("## Q2: against other retrieval models (latency per query, one thread, through Pyserini's searchers: "
             "query encoding and index search apart; * p<0.05, paired t-test against JPQ)", q2_text),
            (f"## Q3: ablations at M={main}", table(q3, ["system"] + metrics))], q2_text


def init_roles(init):
    """The spec's role names -> the systems of one run: flat-ft-on-init{M} is the
    flat-trained encoder on whichever index JPQ started from at M ({M: "pq" | "opq"})."""
    return {f"flat-ft-on-init{m}": f"flat-ft-on-{start}{m}" for m, start in init.items()}


def check_expected(spec, scores, init):
    """Every expected score outside its tolerance, as one line each."""
    failures = []
    roles = init_roles(init)
    for system, expected in (spec.expected or {}).items():
        system = roles.get(system, system)
        for metric, (value, tol) in expected.items():
            got = scores.get(system, {}).get(metric)
            if got is None:
                failures.append(f"{system} {metric}: not measured")
            elif abs(got - value) > tol:
                failures.append(f"{system} {metric}: {got:.4f} outside {value:.4f} ± {tol}")
    return failures


def training_notes(systems):
    """One line per trained system that exported its untrained model (no dev improvement)."""
    notes = []
    for s in systems.values():
        summary = Path(str(s.encoder)).parent / "train_summary.json" if s.encoder else None
        if summary is not None and summary.exists():
            verdict = json.loads(summary.read_text()).get("verdict", "")
            if verdict.startswith("training did not improve"):
                notes.append(f"- {s.name}: {verdict}")
    return notes


def reproduce(spec_path, output, quick=False, progress=False, seed=None):
    from ranx import Qrels
    from ._bootstrap import require_java
    from .datasets import load_dataset, load_qrels

    require_java()
    spec = load_spec(spec_path, quick, seed)
    t_start = time.perf_counter()
    final = Path(output)
    check_writable(final / "report.md", "--output")
    if final.is_dir() and any(final.iterdir()) and not (final / "report.md").exists():
        raise UsageError(f"--output {final}: exists and is not a report dir of jpq-pyserini reproduce "
                         f"(it would be replaced); name a new or empty directory")
    lock_output(final)
    qrels = Qrels(load_qrels(load_dataset(spec.qrels, "qrels"), spec.qrels, "qrels"))
    systems, init = build_systems(spec, progress)
    out = temp_dir_for(final)  # the report dir appears whole or not at all
    try:
        text, q2_text, scores = _report(spec, systems, init, qrels, out, quick, t_start)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    replace_dir(out, final)
    return text, q2_text, check_expected(spec, scores, init), final


def _report(spec, systems, init, qrels, out, quick, t_start):
    """Search every system, then write runs, tables, plot and scores into ``out``."""
    from ranx import Run, evaluate

    scores, runs, info, fusion = {}, {}, {}, {}
    for name, system in systems.items():
        path, encode_ms, search_ms, mb, note = run_system(system, spec, out)
        if note:
            fusion[name] = note
        runs[name] = Run.from_file(str(path), kind="trec", name=name)
        scores[name] = {k: float(v) for k, v in evaluate(qrels, runs[name], spec.metrics, make_comparable=True).items()}
        info[name] = {"encode ms/q": f"{encode_ms:.2f}", "search ms/q": f"{search_ms:.2f}", "index MB": f"{mb:.2f}",
                      "bytes/doc": f"{system.bytes_per_doc:g}" if system.bytes_per_doc else "–"}
    sections, q2_text = tables(spec, scores, runs, info, init, qrels)
    notes = training_notes(systems)
    text = "\n\n".join([
        f"# {spec.name}{' (quick)' if quick else ''}",
        f"Machine: {platform.machine()}, {platform.processor() or platform.platform()}; "
        f"{os.cpu_count()} CPUs; took {time.perf_counter() - t_start:.0f} s "
        f"(artifacts reused where cached); topics {spec.topics}"
        f"{'' if spec.seed is None else f'; seed {spec.seed}'}.",
        *[part for section in sections for part in section],
        *(["## Fusion weights (chosen on the dev split)", "\n".join(
            f"- {n}: Pyserini's hybrid score alpha * BM25 + dense on min-max normalised scores, alpha = {f['alpha']} "
            f"(dev {f['dev']} nDCG@10 {f['dev ndcg@10'][f['alpha']]:.4f}; {len(f['dev ndcg@10'])} weights tried, "
            f"{min(f['dev ndcg@10'])} to {max(f['dev ndcg@10'])})" for n, f in fusion.items())] if fusion else []),
        *(["## Training that did not help on dev", "\n".join(notes)] if notes else [])])
    plot(scores, spec, out / "ndcg_vs_bytes.png")
    with atomic_file(out / "report.md") as tmp:
        tmp.write_text(text + "\n")
    with atomic_file(out / "scores.json") as tmp:
        tmp.write_text(json.dumps({"scores": scores, "info": info, "jpq_init": init, "fusion": fusion}, indent=2) + "\n")
    return text, q2_text, scores


@cli("jpq-pyserini reproduce")
def main(argv=None):
    p = Parser(prog="jpq-pyserini reproduce", description=__doc__.splitlines()[0])
    p.add_argument("spec", help="eval/<spec>.yaml")
    p.add_argument("--quick", action="store_true", help="the spec's reduced variant (minutes)")
    p.add_argument("--output", default=None, help="report dir (default: runs/reproduce/<spec name>)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of every k-means, OPQ and training step (default: the spec's, else the verbs' own); "
                        "eval/spread.py runs several to measure the spread the spec's tolerances come from")
    args = p.parse_args(argv)
    spec_name = Path(args.spec).stem + ("-quick" if args.quick else "")
    _, q2_text, failures, out = reproduce(args.spec, args.output or f"runs/reproduce/{spec_name}", args.quick, progress=True,
                                          seed=args.seed)
    print(q2_text)
    print(f"report: {out / 'report.md'}  plot: {out / 'ndcg_vs_bytes.png'}  runs: {out / 'runs'}")
    if failures:
        for f in failures:
            print(f"jpq-pyserini reproduce: outside tolerance: {f}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
