"""Local collections in the formats users hold, each read by ir_datasets' own format class.

| format | documents | queries | qrels |
|---|---|---|---|
| BEIR | ``corpus.jsonl`` (BeirDocs) | ``queries.jsonl`` (BeirQueries) | ``qrels/SPLIT.tsv`` (BeirQrels) |
| TREC | SGML ``<DOC><DOCNO>`` files, or a folder of them (TrecDocs) | ``<top><num><title>`` (TrecQueries) | ``qid 0 docid grade`` (TrecQrels) |
| SMART (Cranfield) | ``.I .T .A .B .W`` records (CranfieldDocs) | ``.I .W`` records (CranfieldQueries, ids kept) | ``qid docid grade`` (TrecQrels, 3 columns) |
| Pyserini JsonCollection | a folder of ``{"id", "contents"}`` lines (JsonlDocs) | | |
| MS MARCO / TSV | ``collection.tsv``, ``docs.tsv`` (TsvDocs) | ``queries.SPLIT.tsv`` (TsvQueries) | ``qrels.SPLIT.tsv`` (TrecQrels) |

A file's format is told by its first line; a file may be gzipped. A collection folder holds
its documents under a name starting ``corpus``, ``docs`` or ``collection`` (a file or a
folder), its queries under ``queries*`` or ``topics*`` and its qrels under ``qrels*``; the
part between the first and last dot names the split (``topics.test.txt``,
``qrels.train.tsv``), as does BEIR's ``qrels/SPLIT.tsv``. A query file without a split
serves every split, filtered to each split's judged queries, as BEIR's ``queries.jsonl``.
Document stores live in the cache, never next to the source files.
"""
import gzip
import hashlib
import json
import re
from pathlib import Path
from typing import NamedTuple

from ir_datasets.datasets.beir import BeirDocs, BeirQrels, BeirQueries, BeirTitleDoc
from ir_datasets.datasets.cranfield import CranfieldDocs, CranfieldQueries, prefix_sentinel_splitter
from ir_datasets.formats import (GenericDoc, GenericQuery, JsonlDocs, TrecDocs, TrecQrels, TrecQueries, TrecQuery,
                                 TsvDocs, TsvQueries)
from ir_datasets.formats.trec import DEFAULT_QTYPE_MAP
from ir_datasets.indices import DEFAULT_DOCSTORE_OPTIONS, PickleLz4FullStore
from ir_datasets.util import LocalDownload

from .errors import UsageError
from .fsutil import cache_dir

DOCS, QUERIES, QRELS = ("corpus", "docs", "collection"), ("queries", "topics"), ("qrels",)


class _StoreInCache:
    """Put the document store under our cache instead of next to the source file."""

    def docs_store(self, field="doc_id", options=DEFAULT_DOCSTORE_OPTIONS):
        return PickleLz4FullStore(path=str(self._store_dir / "docs.pklz4"), init_iter_fn=self._store_iter,
                                  data_cls=self.docs_cls(), lookup_field=field, index_fields=["doc_id"],
                                  options=options)

    def docs_count(self):
        store = self.docs_store()
        return store.count() if store.built() else None

    def docs_iter(self):
        return iter(self.docs_store())


def store_dir_for(path):
    """A cache dir keyed by the path and the size and time of every file under it."""
    path = Path(path).resolve()
    files = sorted(_files(path)) if path.is_dir() else [path]
    stamp = [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    return cache_dir("datasets", "local", hashlib.sha1(json.dumps([str(path), stamp]).encode()).hexdigest()[:16])


def _files(folder):
    return sorted(f for f in Path(folder).rglob("*") if f.is_file() and not f.name.startswith("."))


class BeirCorpus(_StoreInCache, BeirDocs):
    def __init__(self, name, dlc, store_dir):
        BeirDocs.__init__(self, name, dlc, BeirTitleDoc)
        self._store_dir = Path(store_dir)
        self._store_iter = self._docs_iter

    def docs_iter(self):
        return BeirDocs.docs_iter(self)


class _TsvDocs(_StoreInCache, TsvDocs):
    def __init__(self, path):
        TsvDocs.__init__(self, LocalDownload(path, mkdir=False), GenericDoc)
        self._store_dir = store_dir_for(path)
        self._store_iter = lambda: TsvDocs.docs_iter(self)


class _TrecDocs(_StoreInCache, TrecDocs):
    """TREC SGML: each content tag's lines (TrecDocs' text parser), over one file or a folder's
    files in name order, so the document order is the same on every machine."""

    def __init__(self, path):
        TrecDocs.__init__(self, LocalDownload(path, mkdir=False), parser="text")
        self._path, self._store_dir = Path(path), store_dir_for(path)

    def _store_iter(self):
        for f in (_files(self._path) if self._path.is_dir() else [self._path]):
            for doc in self._docs_iter(f):
                if doc.doc_id is None:
                    raise ValueError(f"{f}: a <DOC> without <DOCNO>")
                yield GenericDoc(doc.doc_id, doc.text.strip())


class _SmartDocs(_StoreInCache, CranfieldDocs):
    def __init__(self, path):
        CranfieldDocs.__init__(self, LocalDownload(path, mkdir=False))
        self._store_dir = store_dir_for(path)
        self._store_iter = lambda: CranfieldDocs.docs_iter.__wrapped__(self)


class SmartQueries(CranfieldQueries):
    """SMART queries with their own ``.I`` ids: ir_datasets' Cranfield renumbers them 1..N to
    match that one collection's qrels; other SMART collections (CISI, MED, CACM) judge by ``.I``."""

    def queries_iter(self):
        with self.queries_dlc.stream() as stream:
            for lines in prefix_sentinel_splitter((line.decode("utf-8") for line in stream), sentinel=".I "):
                text = "".join(line for line in lines[1:] if not line.startswith(".W")).strip()
                yield GenericQuery(lines[0].strip(), text)


class _JsonCollection(_StoreInCache, JsonlDocs):
    """Pyserini's JsonCollection: ``{"id": ..., "contents": ...}`` per line, files in name order."""

    def __init__(self, folder):
        files = [f for f in _files(folder) if f.suffix in (".json", ".jsonl", ".gz")]
        JsonlDocs.__init__(self, [LocalDownload(f, mkdir=False) for f in files], GenericDoc,
                           mapping={"doc_id": "id", "text": "contents"}, docstore_path="")
        self._store_dir = store_dir_for(folder)
        self._store_iter = self._iter


class TrecTitleQuery(NamedTuple):
    query_id: str
    title: str

    def default_text(self):
        return self.title


class TrecTitleDescQuery(NamedTuple):
    query_id: str
    title: str
    description: str

    def default_text(self):
        return self.title


def trec_topics(path):
    """TrecQueries over the tags the file has: ir_datasets wants every field of its query type
    in every topic, and topic files carry title only, title and description, or all four."""
    head = _head(path, 1 << 16)
    qtype = next((t for t in (TrecQuery, TrecTitleDescQuery, TrecTitleQuery)
                  if all(re.search(f"<{tag}>", head) for tag in ("num", "title", "desc", "narr")[:len(t._fields)])), None)
    if qtype is None:
        raise UsageError(f"{path}: TREC topics without <num> and <title>")
    qmap = {pattern: field for pattern, field in DEFAULT_QTYPE_MAP.items() if field in qtype._fields}
    return TrecQueries(LocalDownload(path, mkdir=False), qtype=qtype, qtype_map=qmap)


def _head(path, size=4096):
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            return f.read(size).decode("utf-8", errors="replace")
    except (OSError, EOFError) as e:
        raise UsageError(f"{path}: cannot read it ({e})") from None


def _first_line(path):
    return next((line.strip() for line in _head(path).splitlines() if line.strip()), "")


def kind(path):
    """trec | smart | beir | jsoncollection | tsv | trec-qrels | 3col-qrels | beir-qrels | empty."""
    path = Path(path)
    if path.is_dir():
        files = _files(path)
        return kind(files[0]) if files else "empty"
    line = _first_line(path)
    if not line:
        return "empty"
    if line.startswith(("<DOC>", "<top>")):
        return "trec"
    if line.startswith(".I"):
        return "smart"
    if line.startswith("{"):
        try:
            keys = json.loads(line)
        except json.JSONDecodeError:
            raise UsageError(f"{path}:1: a JSON line that does not parse") from None
        return "jsoncollection" if "contents" in keys else "beir"
    if line.startswith("query-id"):
        return "beir-qrels"
    return "tsv"


def docs(path):
    """The documents of a file or folder, by its format."""
    k = kind(path)
    if k == "trec":
        return _TrecDocs(path)
    if k == "smart":
        return _SmartDocs(path)
    if k == "jsoncollection":
        if Path(path).is_file():
            raise UsageError(f"{path}: Pyserini's JsonCollection is a folder of such files; name the folder")
        return _JsonCollection(path)
    if k == "beir":
        return BeirCorpus(str(path), LocalDownload(path, mkdir=False), store_dir_for(path))
    if k == "tsv":
        return _TsvDocs(path)
    raise UsageError(f"{path}: no documents in it")


def queries(path):
    k = kind(path)
    if k == "trec":
        return trec_topics(path)
    if k == "smart":
        return SmartQueries(LocalDownload(path, mkdir=False))
    if k == "beir":
        return BeirQueries(str(path), LocalDownload(path, mkdir=False), GenericQuery)
    if k == "tsv":
        return TsvQueries(LocalDownload(path, mkdir=False))
    raise UsageError(f"{path}: expected queries (TREC topics, SMART, BEIR queries.jsonl or id<TAB>text)")


def qrels(path):
    dlc = LocalDownload(path, mkdir=False)
    if kind(path) == "beir-qrels":
        return BeirQrels(dlc, {})
    return TrecQrels(dlc, {}, format_3col=len(_first_line(path).split()) == 3)


def _split_of(name, prefixes):
    """'' for 'queries.tsv', 'test' for 'topics.test.txt', None if the name is not one of prefixes."""
    parts = name.split(".")
    if parts[0] not in prefixes:
        return None
    middle = parts[1:-1] if len(parts) > 2 else []
    if middle and middle[-1] in ("gz",):
        middle = middle[:-1]
    if middle and middle[-1] in ("tsv", "txt", "jsonl", "json", "qry", "rel", "xml", "trec"):
        middle = middle[:-1]
    return ".".join(middle)


def folder_parts(folder):
    """(documents path or None, {split: queries path}, {split: qrels path}) of a collection folder."""
    folder = Path(folder)
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    doc_paths = [p for p in entries if p.name.split(".")[0] in DOCS and (p.is_file() or p.is_dir())]
    topic_files = {s: p for p in entries if p.is_file() and (s := _split_of(p.name, QUERIES)) is not None}
    qrel_files = {s: p for p in entries if p.is_file() and (s := _split_of(p.name, QRELS)) is not None}
    if (folder / "qrels").is_dir():
        qrel_files.update({p.stem: p for p in sorted((folder / "qrels").glob("*.tsv"))})
    return (doc_paths[0] if doc_paths else None), topic_files, qrel_files


def file_dataset(path):
    """A single file as a dataset of what it holds: documents, queries or qrels."""
    from ir_datasets.datasets.base import Dataset

    k, head = kind(path), _head(path)
    if k == "trec":
        return Dataset(docs(path)) if _first_line(path).startswith("<DOC>") else Dataset(queries(path))
    if k == "smart":
        return Dataset(docs(path)) if re.search(r"^\.T", head, re.M) else Dataset(queries(path))
    if k == "beir":
        return Dataset(docs(path)) if '"title"' in _first_line(path) else Dataset(queries(path))
    if k == "beir-qrels":
        return Dataset(qrels(path))
    line = _first_line(path)
    if k == "tsv" and len(line.split("\t")) != 2 and len(line.split()) in (3, 4) and line.split()[-1].lstrip("-").isdigit():
        return Dataset(qrels(path))  # qid [iter] docid grade, where a query line is id<TAB>text
    if k == "tsv":
        return Dataset(queries(path))
    raise UsageError(f"{path}: empty file")
