"""The index dir layout that Pyserini's stock FaissSearcher loads: ``index``, ``docid``, ``meta.json``."""
import collections
import json
import time
from pathlib import Path

import faiss
from faiss.contrib.inspect_tools import get_flat_data

from .errors import UsageError
from .fsutil import read_json, read_text

FORMAT_VERSION = 1
# written by write_index_dir for each index; never copied from one index's meta to another's
GENERATED = ("format_version", "dim", "num_docs", "created", "tool")


def inherited(meta, drop=()):
    """The part of ``meta`` a derived index dir carries over."""
    return {k: v for k, v in meta.items() if k not in GENERATED and k not in drop}


def write_index_dir(directory, index, docids, meta):
    """Write into ``directory`` (normally the temporary dir of ``fsutil.atomic_dir``)."""
    from . import __version__

    directory = Path(directory)
    if index.ntotal != len(docids):
        raise ValueError(f"index holds {index.ntotal} vectors but {len(docids)} docids were given")
    faiss.write_index(index, str(directory / "index"))
    (directory / "docid").write_text("".join(f"{d}\n" for d in docids))
    full = {"format_version": FORMAT_VERSION, "dim": index.d, "num_docs": index.ntotal,
            **meta, "tool": f"jpq-pyserini {__version__}",
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (directory / "meta.json").write_text(json.dumps(full, indent=2) + "\n")
    return full


def read_meta(directory, flag="--index"):
    path = Path(directory) / "meta.json"
    if not path.exists():
        return {}
    meta = read_json(path, flag)
    if not isinstance(meta, dict):
        raise UsageError(f"{flag} {path}: expected a JSON object")
    return meta


def check_unique(docids, flag):
    """A document id twice would make every search return that document twice."""
    if len(set(docids)) != len(docids):
        docid, count = collections.Counter(docids).most_common(1)[0]
        repeated = sum(c > 1 for c in collections.Counter(docids).values())
        raise UsageError(f"{flag}: document id '{docid}' occurs {count} times ({repeated} ids repeated); "
                         f"document ids must be unique")


def check_index_dir(directory, flag="--index"):
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"{flag} {directory}: no such index directory")
    for name in ("index", "docid"):
        if not (directory / name).is_file():
            raise UsageError(f"{flag} {directory}: missing '{name}' (an index dir holds index, docid, meta.json)")
    return directory


def read_index_dir(directory, flag="--index"):
    """(faiss index, docids, meta) with the checks Pyserini would fail on, as one-line errors."""
    directory = check_index_dir(directory, flag)
    meta = read_meta(directory, flag)
    index = read_faiss(directory / "index", flag)
    docids = read_text(directory / "docid", flag).splitlines()
    if len(docids) != index.ntotal:
        raise UsageError(f"{flag} {directory}: docid has {len(docids)} lines but the index holds {index.ntotal} vectors")
    return index, docids, meta


def read_faiss(path, flag="--index"):
    try:
        return faiss.read_index(str(path))
    except RuntimeError as e:
        raise UsageError(f"{flag} {path}: not a readable faiss index ({faiss_reason(e)})") from None


def faiss_reason(error):
    """What a faiss C++ exception says went wrong, without its source location."""
    text = " ".join(str(error).split()) or type(error).__name__
    said = text.rsplit("Error: ", 1)[-1]
    return "truncated or damaged file" if "read error" in said or "ret ==" in said else said[:200]


def index_dim(directory, flag="--index"):
    """The dimension of an index dir, checked like ``read_index_dir`` but without loading the
    index when meta.json says what it holds (Pyserini loads it right after)."""
    directory = check_index_dir(directory, flag)
    meta = read_meta(directory, flag)
    if "dim" not in meta or "num_docs" not in meta:
        return read_index_dir(directory, flag)[0].d
    with open(directory / "docid", "rb") as f:
        count = sum(1 for _ in f)
    if count != meta["num_docs"]:
        raise UsageError(f"{flag} {directory}: docid has {count} lines but the index holds {meta['num_docs']} vectors")
    return meta["dim"]


def flat_vectors(index, where="--input"):
    """The float32 vectors of a flat index dir's IndexFlat (``where``: the flag and path, for
    the error)."""
    flat = faiss.downcast_index(index)
    if not isinstance(flat, faiss.IndexFlat):
        raise UsageError(f"{where}: expected a flat index dir (IndexFlatIP, from jpq-pyserini encode), "
                         f"found {type(flat).__name__}")
    return get_flat_data(flat)
