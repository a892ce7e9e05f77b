"""The index dir layout that Pyserini's stock FaissSearcher loads: ``index``, ``docid``, ``meta.json``."""
import collections
import json
import time
from pathlib import Path

import faiss
import numpy as np
from faiss.contrib.inspect_tools import get_flat_data

from .errors import UsageError
from .fsutil import read_json, read_text

FORMAT_VERSION = 1
# The centroids a trained index's codes were assigned with (its own hold the trained ones);
# absent from an untrained index dir, whose centroids are both.
ASSIGNMENT_FILE = "assignment.safetensors"
FOLDED = "folded_query_head"  # meta.json key of fold-head's copies: a query head in the chain
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
        index = faiss.read_index(str(path))
    except RuntimeError as e:
        raise UsageError(f"{flag} {path}: not a readable faiss index ({faiss_reason(e)})") from None
    # faiss 1.15's reader checks orthonormality before it has read the transform's size, so every
    # LinearTransform comes back flagged orthonormal, and reconstruct would invert a query head
    # (fold-head's copies) as if it were a rotation. Check again, now that A is known.
    return mark_orthonormal(index)


def is_rotation(a, b=None, tol=1e-3):
    """Is ``y = a x + b`` an orthonormal rotation (float32 OPQ matrices are, to about 1e-6)?"""
    return bool(a.shape[0] == a.shape[1] and (b is None or not np.any(b))
                and np.abs(a @ a.T - np.eye(a.shape[0], dtype=a.dtype)).max() < tol)


def mark_orthonormal(index):
    """Set faiss's ``is_orthonormal`` on the chain's linear transforms as they are: a copied OPQ
    matrix loses it (and reconstruct, Pyserini's PRF, refuses to invert it); a read one always
    has it."""
    from faiss.contrib.inspect_tools import get_LinearTransform_matrix

    wrapper = faiss.downcast_index(index)  # a view: ``index`` stays the object that owns the C++ index
    if isinstance(wrapper, faiss.IndexPreTransform):
        for i in range(wrapper.chain.size()):
            vt = faiss.downcast_VectorTransform(wrapper.chain.at(i))
            if isinstance(vt, faiss.LinearTransform):
                a, b = get_LinearTransform_matrix(vt)
                vt.is_orthonormal = is_rotation(a, b if vt.have_bias else None)
    return index


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


def pq_parts(index, meta, directory, flag):
    """(rotation, inner PQ index) of an index dir that JPQ may train, extend or quantize with:
    ``codebook.split_index`` with the flag and path in its one-line errors. ``fold-head``'s
    copies are refused by their mark: documents added through the folded head are mis-encoded."""
    from .codebook import split_index

    if meta.get(FOLDED):
        raise UsageError(f"{flag} {directory}: a copy with the query head folded in, for stock Pyserini only; "
                         f"use the index dir it was made from ({meta[FOLDED].get('index')})")
    try:
        return split_index(index)
    except UsageError as e:
        raise UsageError(f"{flag} {directory}: {e}") from None


def write_assignment(directory, centroids):
    """Keep, in the new index dir ``directory``, the [M, K, d/M] centroids its codes were
    assigned with (``read_assignment`` of the index dir they came from)."""
    from safetensors.numpy import save_file
    save_file({"centroids": np.ascontiguousarray(centroids, dtype=np.float32)}, str(Path(directory) / ASSIGNMENT_FILE))


def read_assignment(directory, pq, flag="--codebook"):
    """[M, K, d/M] assignment centroids of an index dir whose inner PQ is ``pq``: those it kept,
    else (an untrained index) its own."""
    from faiss.contrib.inspect_tools import get_pq_centroids

    path = Path(directory) / ASSIGNMENT_FILE
    if not path.is_file():
        return get_pq_centroids(pq)
    from safetensors import SafetensorError
    from safetensors.numpy import load_file
    try:
        centroids = load_file(str(path))["centroids"]
    except (SafetensorError, OSError, KeyError) as e:
        raise UsageError(f"{flag} {path}: unreadable assignment centroids ({str(e).splitlines()[0][:160]})") from None
    if centroids.shape != (pq.M, pq.ksub, pq.dsub):
        raise UsageError(f"{flag} {path}: assignment centroids of shape {centroids.shape}, expected "
                         f"{(pq.M, pq.ksub, pq.dsub)} for the index's PQ")
    return centroids
