"""``jpq-pyserini encode-queries``: topics encoded once, for ``search --encoded-queries``.

    jpq-pyserini encode-queries --topics jpq-pyserini/scifact/test --encoder runs/jpq48/encoder \\
        --output runs/jpq48/queries-test
    jpq-pyserini search --index runs/jpq48/index --encoded-queries runs/jpq48/queries-test \\
        --topics jpq-pyserini/scifact/test --output run.txt

Mirrors ``pyserini.encode.query``; the output is a directory holding ``embedding.pkl``
(a pandas frame of id, text, embedding), the layout Pyserini's ``QueryEncoder`` loads for
``--encoded-queries``. Pyserini looks each query up by its text, so the texts are read with
Pyserini's own topic reader from the same ``--topics`` that search will be given.
"""
import pickle
import sys
import time
from pathlib import Path

import numpy as np

from .encoder import DEFAULT_ENCODER
from .errors import Parser, UsageError, cli, positive_int
from .fsutil import atomic_dir, check_output_dir
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


def encode_queries(topics, encoder, output, batch_size=64, topics_format="default", overwrite=False):
    import pandas as pd

    from .query_encoder import JpqQueryEncoder

    check_output_dir(output, overwrite, inputs=[("--encoder", encoder)])
    ids, texts = read_topics(topics, topics_format)
    model = JpqQueryEncoder(encoder)
    t0 = time.perf_counter()
    vectors = np.concatenate([model.encode_batch(texts[s:s + batch_size]) for s in range(0, len(texts), batch_size)])
    seconds = time.perf_counter() - t0
    with atomic_dir(output, overwrite) as tmp:
        pd.DataFrame({"id": ids, "text": texts, "embedding": list(vectors)}).to_pickle(tmp / EMBEDDING_FILE)
    return vectors, seconds


def build_parser():
    p = Parser(prog="jpq-pyserini encode-queries", description=__doc__.splitlines()[0])
    p.add_argument("--topics", required=True, help="Pyserini topics name, .tsv file, ir_datasets id or local collection")
    p.add_argument("--topics-format", default="default", help="as Pyserini's search command")
    p.add_argument("--encoder", default=DEFAULT_ENCODER, help="encoder dir (torch or ONNX), or the embedded default")
    p.add_argument("--output", required=True, help="encoded-queries dir to write (holds embedding.pkl)")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --output")
    return p


@cli("jpq-pyserini encode-queries")
def main(argv=None):
    args = build_parser().parse_args(argv)
    from ._bootstrap import require_java
    require_java()  # Pyserini's topic readers need the JVM
    vectors, seconds = encode_queries(args.topics, args.encoder, args.output, args.batch_size,
                                      args.topics_format, args.overwrite)
    print(f"encoded {len(vectors)} queries of {args.topics} with {args.encoder} ({vectors.shape[1]} dims) "
          f"in {seconds:.1f} s ({1000 * seconds / max(len(vectors), 1):.2f} ms/q) -> {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
