"""The index dir layout that Pyserini's stock FaissSearcher loads: ``index``, ``docid``, ``meta.json``."""
import json
import time
from pathlib import Path

import faiss
from faiss.contrib.inspect_tools import get_flat_data

from .errors import UsageError

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


def read_meta(directory):
    path = Path(directory) / "meta.json"
    return json.loads(path.read_text()) if path.exists() else {}


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
    try:
        index = faiss.read_index(str(directory / "index"))
    except RuntimeError as e:
        raise UsageError(f"{flag} {directory}/index: not a readable faiss index ({str(e).splitlines()[0]})") from None
    docids = (directory / "docid").read_text().splitlines()
    if len(docids) != index.ntotal:
        raise UsageError(f"{flag} {directory}: docid has {len(docids)} lines but the index holds {index.ntotal} vectors")
    return index, docids, read_meta(directory)


def index_dim(directory, flag="--index"):
    """The dimension of an index dir, checked like ``read_index_dir`` but without loading the
    index when meta.json says what it holds (Pyserini loads it right after)."""
    directory = check_index_dir(directory, flag)
    meta = read_meta(directory)
    if "dim" not in meta or "num_docs" not in meta:
        return read_index_dir(directory, flag)[0].d
    with open(directory / "docid") as f:
        count = sum(1 for _ in f)
    if count != meta["num_docs"]:
        raise UsageError(f"{flag} {directory}: docid has {count} lines but the index holds {meta['num_docs']} vectors")
    return meta["dim"]


def flat_vectors(index):
    """The float32 vectors of a flat index dir's IndexFlat."""
    flat = faiss.downcast_index(index)
    if not isinstance(flat, faiss.IndexFlat):
        raise UsageError(f"expected a flat index (IndexFlatIP), found {type(flat).__name__}")
    return get_flat_data(flat)
