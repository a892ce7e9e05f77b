"""Pyserini's encoded-queries dir (``embedding.pkl``: a pandas frame of id, text, embedding):
read without running code from it, and checked against the index and topics it will meet.
Shared by ``encode-queries``, which writes one, and ``search``, which takes one."""
import pickle
from pathlib import Path

import numpy as np

from .errors import UsageError
from .pyserini_bridge import check_topics, topics_file

EMBEDDING_FILE = "embedding.pkl"
# Everything a pickled frame of ids, texts and float arrays refers to, across pandas 1-3 and
# numpy 1-2: constructors of data. A pickle may name any callable and have it called while it
# loads; one from someone else may name nothing outside this list.
FRAME_GLOBALS = {
    *((b, n) for b in ("builtins", "__builtin__") for n in ("slice", "bytearray", "object")),
    ("_codecs", "encode"), ("copyreg", "_reconstructor"), ("numpy", "dtype"), ("numpy", "ndarray"),
    *((f"numpy.{c}.multiarray", n) for c in ("core", "_core") for n in ("_reconstruct", "scalar")),
    *((f"numpy.{c}.numeric", "_frombuffer") for c in ("core", "_core")),
    *(("pandas", n) for n in ("DataFrame", "Index", "RangeIndex", "StringDtype")),
    ("pandas.core.frame", "DataFrame"), ("pandas.core.indexes.base", "Index"), ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.core.indexes.range", "RangeIndex"), ("pandas.core.internals.managers", "BlockManager"),
    ("pandas.core.internals.blocks", "new_block"), ("pandas._libs.internals", "_unpickle_block"),
    ("pandas.arrays", "ArrowStringArray"), ("pandas.core.arrays.string_arrow", "ArrowStringArray"),
    ("pyarrow.lib", "_restore_array"), ("pyarrow.lib", "py_buffer"), ("pyarrow.lib", "type_for_alias"),
}


class _FrameUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in FRAME_GLOBALS:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which a frame of ids, texts and vectors never "
                                         f"holds (not loaded: a pickle can run code)")
        return super().find_class(module, name)


def read_frame(file):
    """The encoded-queries frame in ``file``, unpickled through ``FRAME_GLOBALS`` only."""
    import pandas as pd

    with open(file, "rb") as f:
        frame = _FrameUnpickler(f).load()
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"a pickled {type(frame).__name__}, not a pandas DataFrame")
    return frame


def read_topics(topics, topics_format="default"):
    """(ids, texts) exactly as Pyserini's search command will see them."""
    from pyserini.query_iterator import TopicsFormat, get_query_iterator

    source = topics_file(topics) or topics
    check_topics(source, topics_format)
    pairs = list(get_query_iterator(source, TopicsFormat(topics_format)))
    return [str(qid) for qid, _ in pairs], [text for _, text in pairs]


def check_encoded_queries(path, dim, topics=None, topics_format="default", shown=None, flag="--encoded-queries"):
    """One line for encoded queries Pyserini would fail on later: no embedding.pkl, another
    dimension than the index, or a topic whose text has no vector (Pyserini looks up by text)."""
    file = Path(path) / EMBEDDING_FILE
    if not file.is_file():
        raise UsageError(f"{flag} {path}: no {EMBEDDING_FILE} (write one with jpq-pyserini encode-queries)")
    try:
        frame = read_frame(file)
        vectors = np.stack(frame["embedding"].to_list())
        texts = set(frame["text"])
    except Exception as e:
        raise UsageError(f"{flag} {path}: {EMBEDDING_FILE} is not Pyserini's encoded-queries frame "
                         f"(text, embedding): {str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__}") from None
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise UsageError(f"{flag} {path}: {vectors.shape[-1]}-dimensional queries but the index holds {dim} dimensions")
    if topics is not None:
        missing = [qid for qid, text in zip(*read_topics(topics, topics_format)) if text not in texts]
        if missing:
            raise UsageError(f"{flag} {path}: {len(missing)} queries of --topics {shown or topics} are not encoded "
                             f"(first: {missing[0]}); encode them with jpq-pyserini encode-queries")
