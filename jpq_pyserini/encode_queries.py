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
import sys
import time

import numpy as np

from .encoded_queries import EMBEDDING_FILE, read_topics
from .encoder import DEFAULT_ENCODER
from .errors import Parser, cli, positive_int
from .fsutil import atomic_dir, check_output_dir

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
