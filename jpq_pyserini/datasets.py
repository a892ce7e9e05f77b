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
import sys
from dataclasses import dataclass
from pathlib import Path

import ir_datasets
from ir_datasets.datasets.base import Dataset, FilteredQueries

from . import formats, splits
from .errors import Parser, UsageError, cli
from .shipped import NAME, register


def _splits(folder):
    """{split: Dataset} of a collection folder in any format ``formats`` reads; None if the
    folder holds no documents, queries or qrels."""
    doc_path, topic_files, qrel_files = formats.folder_parts(folder)
    if doc_path is None and not topic_files and not qrel_files:
        return None
    docs = [formats.docs(doc_path)] if doc_path else []
    shared = formats.queries(topic_files[""]) if "" in topic_files else None
    if set(topic_files) - {""} or "" in qrel_files or shared is None:  # a query file per split (TSV, TREC)
        out = {}
        for split in sorted(set(topic_files) | set(qrel_files)):
            query_part = formats.queries(topic_files[split]) if split in topic_files else shared
            qrels = formats.qrels(qrel_files[split]) if split in qrel_files else None
            if query_part is shared and qrels is not None and split and shared is not None:
                query_part = FilteredQueries(shared, splits.qids(qrels))
            out[split] = Dataset(*docs, *[x for x in (query_part, qrels) if x is not None])
            if split == "train" and qrels is not None and query_part is not None:
                out.update(splits.dev_carve(docs, query_part, qrels))
        out.setdefault("", Dataset(*docs))
        return out
    # one query file for every split, filtered to each split's judged queries (BEIR)
    return splits.beir_splits(docs[0] if docs else None, shared, {s: formats.qrels(p) for s, p in qrel_files.items()})


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
    if splits is None or (split not in splits and formats.folder_parts(path)[0] is None):
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


def check_loads(dataset_id):
    """One document, query and judgement of an id read through ir_datasets, as a check that it
    serves offline; {part: count or first id}."""
    ds = load_dataset(dataset_id, "ID")
    seen = {}
    with reading(dataset_id, "ID"):
        for part, has, it in (("docs", ds.has_docs, "docs_iter"), ("queries", ds.has_queries, "queries_iter"),
                              ("qrels", ds.has_qrels, "qrels_iter")):
            if has():
                seen[part] = next(iter(getattr(ds, it)()), None) is not None
    return seen


@cli("jpq-pyserini datasets")
def main(argv=None):
    """``jpq-pyserini datasets``: the collections every verb takes by id; ``datasets add ID PATH``
    checks a local copy of an official collection's files against ir_datasets' checksums and
    serves its ids offline from then on."""
    from . import official
    p = Parser(prog="jpq-pyserini datasets", description=main.__doc__.splitlines()[0])
    p.add_argument("action", nargs="?", choices=["list", "add"], default="list")
    p.add_argument("id", nargs="?", metavar="ID", help="for add: an official ir_datasets id, e.g. beir/nfcorpus")
    p.add_argument("path", nargs="?", metavar="PATH", help="for add: the downloaded file (e.g. nfcorpus.zip) or its folder")
    args = p.parse_args(argv)
    register()
    if args.action == "add":
        if not (args.id and args.path):
            p.error("datasets add: ID and PATH are required")
        for source, dest in official.add(args.id, args.path):
            print(f"{source}: md5 matches ir_datasets' record; installed as {dest}", file=sys.stderr)
        seen = check_loads(args.id)
        print(f"{args.id} loads offline ({', '.join(k for k, ok in seen.items() if ok)})", file=sys.stderr)
        return
    shipped = sorted(k for k in ir_datasets.registry._registered if k.startswith(NAME + "/"))
    print("shipped (offline):\n" + "".join(f"  {k}\n" for k in shipped), end="")
    installed = official.available()
    print("official copies added (offline):" + ("" if installed else " none (jpq-pyserini datasets add ID PATH)"))
    for key, path in installed:
        ids = sorted(k for k in ir_datasets.registry._registered if k == key or k.startswith(key + "/"))
        print(f"  {key}: {path}\n" + "".join(f"    {i}\n" for i in ids), end="")


if __name__ == "__main__":
    main()
