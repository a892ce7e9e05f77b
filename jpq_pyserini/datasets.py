"""Datasets through ir_datasets: the shipped SciFact copy, local collections, official ids.

``load_dataset(name)`` is the one entry point. ``name`` is
  * an ir_datasets id: ``jpq-pyserini/scifact[/train[/dev|/fit]|/test]`` (shipped, offline)
    or any official id such as ``beir/scifact/test`` (needs the network once);
  * a local collection folder in BEIR, TREC, SMART, Pyserini JsonCollection or MS MARCO / TSV
    format (``formats.py``), optionally followed by ``/<split>`` to select the split's queries
    and qrels; or a single file of documents, queries or qrels in one of those formats.
Document stores (``docs_store()``) live in the cache, never next to the source files,
so the shipped copy and read-only folders work.
"""
import contextlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

import ir_datasets
from ir_datasets.datasets.base import Dataset, FilteredQrels, FilteredQueries
from ir_datasets.datasets.beir import BeirQrels, BeirQueries
from ir_datasets.formats import GenericQuery
from ir_datasets.util import Cache, GzipExtract, Lazy, LocalDownload

from . import formats
from .errors import UsageError
from .fsutil import cache_dir

NAME = "jpq-pyserini"
SCIFACT_DIR = Path(__file__).parent / "data" / "scifact"
# The dev carve is part of the contract: changing the seed or fraction changes every
# number selected on dev, so both are fixed here.
DEV_SEED = 2108  # arXiv 2108.00644
DEV_FRACTION = 0.10


def _qids(qrels):
    return Lazy(lambda: {q.query_id for q in qrels.qrels_iter()})


def _dev_qids(train_qrels):
    def carve():
        qids = sorted({q.query_id for q in train_qrels.qrels_iter()})
        k = round(len(qids) * DEV_FRACTION)
        return set(random.Random(DEV_SEED).sample(qids, k))
    return Lazy(carve)


def _dev_carve(docs, queries, qrels):
    """train/dev and train/fit: a fixed, seeded carve of a train split's judged queries."""
    dev = _dev_qids(qrels)
    return {"train/dev": Dataset(*docs, FilteredQueries(queries, dev), FilteredQrels(qrels, dev)),
            "train/fit": Dataset(*docs, FilteredQueries(queries, dev, mode="exclude"),
                                 FilteredQrels(qrels, dev, mode="exclude"))}


def _beir_splits(docs, queries, qrels_by_split):
    """Datasets for a BEIR-style collection (one query file for every split): '' (docs + all
    queries) and each split, its queries the judged ones."""
    docs = [docs] if docs is not None else []
    out = {"": Dataset(*docs, queries)}
    for split, qrels in qrels_by_split.items():
        split_queries = FilteredQueries(queries, _qids(qrels))
        out[split] = Dataset(*docs, split_queries, qrels)
        if split == "train":
            out.update(_dev_carve(docs, split_queries, qrels))
    return out


def _shipped_scifact():
    cache = cache_dir("datasets", "scifact")

    def unpacked(name):
        return Cache(GzipExtract(LocalDownload(SCIFACT_DIR / f"{name}.gz", mkdir=False)), cache / name)

    docs = formats.BeirCorpus("scifact", unpacked("corpus.jsonl"), cache)
    queries = BeirQueries("scifact", unpacked("queries.jsonl"), GenericQuery)
    qrels = {s: BeirQrels(LocalDownload(SCIFACT_DIR / "qrels" / f"{s}.tsv", mkdir=False), {1: "relevant"})
             for s in ("train", "test")}
    return _beir_splits(docs, queries, qrels)


def register():
    """Register the shipped collection under ``jpq-pyserini/scifact...`` (idempotent)."""
    if f"{NAME}/scifact" in ir_datasets.registry:
        return
    for split, ds in _shipped_scifact().items():
        ir_datasets.registry.register(f"{NAME}/scifact" + (f"/{split}" if split else ""), ds)


def _splits(folder):
    """{split: Dataset} of a collection folder in any format ``formats`` reads; None if the
    folder holds no documents, queries or qrels."""
    doc_path, topic_files, qrel_files = formats.folder_parts(folder)
    if doc_path is None and not topic_files and not qrel_files:
        return None
    docs = [formats.docs(doc_path)] if doc_path else []
    shared = formats.queries(topic_files[""]) if "" in topic_files else None
    if set(topic_files) - {""} or "" in qrel_files or shared is None:
        out = {}
        for split in sorted(set(topic_files) | set(qrel_files)):
            query_part = formats.queries(topic_files[split]) if split in topic_files else shared
            qrels = formats.qrels(qrel_files[split]) if split in qrel_files else None
            if query_part is shared and qrels is not None and split and shared is not None:
                query_part = FilteredQueries(shared, _qids(qrels))
            out[split] = Dataset(*docs, *[x for x in (query_part, qrels) if x is not None])
            if split == "train" and qrels is not None and query_part is not None:
                out.update(_dev_carve(docs, query_part, qrels))
        out.setdefault("", Dataset(*docs))
        return out
    return _beir_splits(docs[0] if docs else None, shared, {s: formats.qrels(p) for s, p in qrel_files.items()})


def local_collection(name):
    """Resolve a local folder (optionally followed by ``/SPLIT``) or file; None if it is not a path."""
    path = Path(name)
    if path.is_file():
        return formats.file_dataset(path)
    split = ""
    while not path.is_dir():
        if path.parent == path or str(path.parent) == ".":
            return None
        split = f"{path.name}/{split}".rstrip("/")
        path = path.parent
    splits = _splits(path)
    if splits is None:
        if path != Path(name):
            return None  # a path below a plain folder: not ours, let ir_datasets judge the id
        raise UsageError(f"{path}: not a collection folder (expected documents named corpus*, docs* or "
                         f"collection*: BEIR, TREC, SMART, JsonCollection or TSV; queries* or topics*; qrels*)")
    if split not in splits:
        raise UsageError(f"{name}: no split '{split}' in {path} (available: "
                         f"{', '.join(s or '(whole folder)' for s in splits)})")
    return splits[split]


def load_dataset(name, flag=None):
    """Return an ir_datasets Dataset for an id or a local folder (see module docstring);
    ``flag`` names the flag in errors."""
    register()
    name = str(name)
    try:
        local = local_collection(name)
    except UsageError as e:
        raise UsageError(f"{flag} {e}" if flag else str(e)) from None
    if local is not None:
        return local
    try:
        return ir_datasets.load(name)
    except KeyError:
        raise UsageError(f"{flag + ' ' if flag else ''}{name}: unknown dataset: expected an ir_datasets id (e.g. "
                         f"{NAME}/scifact/test, beir/scifact/test), a BEIR folder, or a folder with docs.tsv") from None


@contextlib.contextmanager
def reading(name, flag):
    """Turn the ways a collection's files can be broken (missing, truncated, not UTF-8, not
    JSON, wrong columns) into one line naming the flag and the dataset."""
    try:
        yield
    except FileNotFoundError as e:
        raise UsageError(f"{flag} {name}: missing file {e.filename or e}") from None
    except UnicodeDecodeError as e:
        raise UsageError(f"{flag} {name}: a file is not UTF-8 text (byte {e.object[e.start]:#04x} "
                         f"at offset {e.start})") from None
    except (json.JSONDecodeError, KeyError, TypeError, IndexError, ValueError, RuntimeError, EOFError,
            AssertionError) as e:  # ir_datasets' TREC topics reader asserts each topic's fields
        reason = str(e).splitlines()[0] if str(e) else ""
        raise UsageError(f"{flag} {name}: malformed file ({type(e).__name__}{': ' + reason if reason else ''})") from None


def doc_text(doc):
    """The text a document encoder and BM25 see: title and body, as Pyserini's BEIR corpora."""
    title = getattr(doc, "title", "") or ""
    return f"{title} {doc.text}".strip() if title else doc.text


def iter_queries(dataset, name="", flag="--topics"):
    if not dataset.has_queries():
        raise UsageError(f"{flag} {name}: the dataset has no queries")
    with reading(name, flag):
        return [(q.query_id, q.default_text()) for q in dataset.queries_iter()]


def load_qrels(dataset, name="", flag="--qrels"):
    """{qid: {docid: grade}} for a dataset that has qrels; one clear error otherwise."""
    if not dataset.has_qrels():
        raise UsageError(f"{flag} {name}: the dataset has no qrels (relevance judgements); "
                         f"training and evaluation need them")
    qrels = {}
    with reading(name, flag):
        for q in dataset.qrels_iter():
            qrels.setdefault(q.query_id, {})[q.doc_id] = int(q.relevance)
    return qrels


@dataclass
class JudgedQueries:
    """The queries of a split that have text and at least one relevant document in an index."""
    qids: list            # sorted query ids
    texts: dict           # qid -> text
    positives: dict       # qid -> index rows of its relevant documents (grade > 0)
    qrels: dict           # qid -> {docid: grade}, as judged


def judged_queries(name, docid_to_row, flag):
    """Load ``name``'s queries and qrels against an index's ``docid -> row`` map; one clear line
    (naming ``flag``) when the split does not fit the index."""
    ds = load_dataset(name, flag)
    qrels = load_qrels(ds, name, flag)
    texts = dict(iter_queries(ds, name, flag))
    missing = [(q, d) for q, rel in qrels.items() for d, g in rel.items() if g > 0 and d not in docid_to_row]
    if missing:
        raise UsageError(f"{flag} {name}: {len(missing)} relevant documents are not in the index "
                         f"(first: query {missing[0][0]}, document {missing[0][1]}); was the index built from this corpus?")
    qids = sorted(q for q in qrels if q in texts and any(g > 0 for g in qrels[q].values()))
    if not qids:
        raise UsageError(f"{flag} {name}: no query has both text and a relevant document")
    positives = {q: [docid_to_row[d] for d, g in qrels[q].items() if g > 0] for q in qids}
    return JudgedQueries(qids, texts, positives, qrels)
