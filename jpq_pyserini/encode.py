"""``jpq-pyserini encode``: a corpus through a frozen document encoder into a flat index dir.

Mirrors ``pyserini.encode`` (``--corpus --encoder --output --max-length --batch-size
--device --shard-id --shard-num``); the output is an index dir (IndexFlatIP) that
Pyserini's FaissSearcher loads. Shards are contiguous slices of the corpus in its order;
``jpq-pyserini merge`` joins them.
"""
import itertools
import sys
import time

import faiss

from .datasets import doc_text, load_dataset, reading
from .encoder import DEFAULT_ENCODER, TextEncoder, resolve_device
from .errors import Parser, UsageError, cli, nonneg_int, positive_int
from .fsutil import atomic_dir, check_output_dir
from .indexdir import check_unique, write_index_dir


def shard_bounds(n, shard_id, shard_num):
    if shard_num < 1:
        raise UsageError(f"--shard-num {shard_num}: must be at least 1")
    if not 0 <= shard_id < shard_num:
        raise UsageError(f"--shard-id {shard_id}: out of range for --shard-num {shard_num} (expected 0..{shard_num - 1})")
    return n * shard_id // shard_num, n * (shard_id + 1) // shard_num


def read_corpus(corpus, shard_id=0, shard_num=1):
    """(docids, texts) of one shard; malformed files become one clear error."""
    dataset = load_dataset(corpus, "--corpus")
    if not dataset.has_docs():
        raise UsageError(f"--corpus {corpus}: the dataset has no documents")
    with reading(corpus, "--corpus"):
        ids = [d.doc_id for d in dataset.docs_iter()]
        check_unique(ids, f"--corpus {corpus}")
        start, end = shard_bounds(len(ids), shard_id, shard_num)
        docs = list(itertools.islice(dataset.docs_iter(), start, end))
    if not docs:
        raise UsageError(f"--corpus {corpus}: no documents in shard {shard_id} of {shard_num}")
    return [d.doc_id for d in docs], [doc_text(d) for d in docs], len(ids)


def encode_corpus(corpus, output, encoder=DEFAULT_ENCODER, max_length=256, batch_size=64, device=None,
                  shard_id=0, shard_num=1, overwrite=False, progress=True):
    check_output_dir(output, overwrite)
    device = resolve_device(device)
    enc = TextEncoder(encoder, device)
    if enc.head is not None:  # a trained query head maps queries only; documents never pass through it
        raise UsageError(f"--encoder {encoder}: a JPQ query encoder (it has a query head); encode documents with "
                         f"the document encoder it was trained from")
    docids, texts, total = read_corpus(corpus, shard_id, shard_num)
    t0 = time.perf_counter()
    vectors = enc.encode(texts, batch_size=batch_size, max_length=max_length, progress=progress)
    seconds = time.perf_counter() - t0
    index = faiss.IndexFlatIP(enc.dim)
    index.add(vectors)
    meta = {"kind": "flat", "corpus": corpus, "encoder": encoder, "pooling": enc.config.pooling,
            "normalize": enc.config.normalize, "max_length": max_length,
            "bytes_per_doc": 4 * enc.dim, "compression_ratio": 1.0,
            "truncated_docs": enc.truncated, "encode_seconds": round(seconds, 2), "device": device}
    if shard_num > 1:
        meta.update(shard_id=shard_id, shard_num=shard_num, corpus_docs=total)
    with atomic_dir(output, overwrite) as tmp:
        meta = write_index_dir(tmp, index, docids, meta)
    return meta


def build_parser():
    p = Parser(prog="jpq-pyserini encode", description=__doc__.splitlines()[0])
    p.add_argument("--corpus", required=True, help="ir_datasets id or local collection folder")
    p.add_argument("--encoder", default=DEFAULT_ENCODER, help="Hugging Face model directory or the embedded default")
    p.add_argument("--output", required=True, help="flat index dir to write")
    p.add_argument("--max-length", type=positive_int, default=256)
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda when available)")
    p.add_argument("--shard-id", type=nonneg_int, default=0)
    p.add_argument("--shard-num", type=positive_int, default=1)
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --output")
    return p


@cli("jpq-pyserini encode")
def main(argv=None):
    args = build_parser().parse_args(argv)
    meta = encode_corpus(args.corpus, args.output, args.encoder, args.max_length, args.batch_size, args.device,
                         args.shard_id, args.shard_num, args.overwrite)
    rate = meta["num_docs"] / max(meta["encode_seconds"], 1e-9)
    print(f"encoded {meta['num_docs']} documents of {args.corpus} with {args.encoder} "
          f"({meta['dim']} dims, {meta['truncated_docs']} truncated at {args.max_length} tokens) "
          f"in {meta['encode_seconds']:.1f} s ({rate:.1f} docs/s) -> {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
