"""``jpq-pyserini fold-head``: a copy of a JPQ index with the trained query head folded in, for stock Pyserini.

    jpq-pyserini fold-head --index runs/jpq48/index --encoder runs/jpq48/encoder --output runs/jpq48/index-stock
    python -m pyserini.search.faiss --index runs/jpq48/index-stock --encoder runs/jpq48/encoder \\
        --encoder-class auto --pooling mean --l2-norm --topics TOPICS --output run.txt

Stock Pyserini's encoders do not know the head: in the copy, faiss applies ``y = W q + b`` to
every query as the first transform of the index, so stock Pyserini ranks as the plugin does
(for queries within the encoder's query length). The copy gives up what the plain index keeps:
its run scores are the model's times ``||W q + b||``, a factor that changes per query (fusion
and thresholds see another scale per query); faiss would pass added documents through the
head (mis-encoded) and cannot invert it for ``reconstruct`` (Pyserini's PRF fails). Its
meta.json marks it, and train, ``index --codebook``, merge and search with the JPQ encoder
refuse it.
"""
import sys

from .encoder import read_head
from .errors import Parser, UsageError, cli
from .fsutil import atomic_dir, check_output_dir
from .indexdir import FOLDED, inherited, pq_parts, read_index_dir, write_index_dir


def fold_head(index_dir, output, encoder=None, overwrite=False):
    check_output_dir(output, overwrite, inputs=[("--index", index_dir), ("--encoder", encoder)])
    index, docids, meta = read_index_dir(index_dir)
    if meta.get("kind") != "flat":  # a flat-trained encoder's head may be folded into its flat index too
        pq_parts(index, meta, index_dir, "--index")
    elif meta.get(FOLDED):
        raise UsageError(f"--index {index_dir}: already has a query head folded in")
    encoder = encoder or meta.get("query_encoder")
    if not encoder:
        raise UsageError(f"--index {index_dir}: its meta.json names no trained query encoder; pass --encoder DIR")
    head = read_head(encoder)
    if head is None:
        raise UsageError(f"--encoder {encoder}: has no query head; stock Pyserini searches --index {index_dir} "
                         f"with it as it is")
    if head.dim != index.d:
        raise UsageError(f"--encoder {encoder}: its query head maps {head.dim} dimensions but the index holds {index.d}")
    with atomic_dir(output, overwrite) as tmp:
        return write_index_dir(tmp, head.fold_into(index), docids, {
            **inherited(meta, drop=("query_encoder",)),
            FOLDED: {"index": str(index_dir), "encoder": str(encoder),
                     "search_with": "a stock encoder over the encoder dir's transformer (pooling and normalisation "
                                    "of its jpq_encoder.json); not jpq-pyserini's JPQ encoder"}})


@cli("jpq-pyserini fold-head")
def main(argv=None):
    p = Parser(prog="jpq-pyserini fold-head", description=__doc__.splitlines()[0])
    p.add_argument("--index", required=True, help="index dir written by train")
    p.add_argument("--encoder", default=None, help="its trained encoder dir (default: the one its meta.json names)")
    p.add_argument("--output", required=True, help="index dir to write (for stock Pyserini only)")
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    meta = fold_head(args.index, args.output, args.encoder, args.overwrite)
    print(f"folded the query head of {meta[FOLDED]['encoder']} into a copy of {args.index} "
          f"(stock Pyserini only; see fold-head --help) -> {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
