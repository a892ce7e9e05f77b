"""``jpq-pyserini merge``: join flat index shards (from ``encode --shard-id``) into one index dir.

Mirrors ``pyserini.index.merge_faiss_indexes``; shards are concatenated in shard-id order,
which restores the corpus order of a single pass.
"""
import sys

import faiss
import numpy as np

from .errors import Parser, UsageError, cli
from .fsutil import atomic_dir, check_output_dir
from .indexdir import check_unique, flat_vectors, inherited, read_index_dir, write_index_dir


def merge_shards(inputs, output, overwrite=False):
    check_output_dir(output, overwrite, inputs=[("--input", d) for d in inputs])
    shards = [read_index_dir(d, "--input") for d in inputs]
    order = sorted(range(len(shards)), key=lambda i: shards[i][2].get("shard_id", i))
    ids = [shards[i][2].get("shard_id", i) for i in order]
    nums = {s[2].get("shard_num", len(shards)) for s in shards}
    if nums != {len(shards)} or ids != list(range(len(shards))):
        raise UsageError(f"--input: expected shards 0..{len(shards) - 1} of one corpus, got ids {ids} of {sorted(nums)}")
    dims = {s[0].d for s in shards}
    if len(dims) != 1:
        raise UsageError(f"--input: shards have different dimensions {sorted(dims)}")
    docids = [d for i in order for d in shards[i][1]]
    check_unique(docids, "--input")
    vectors = np.concatenate([flat_vectors(shards[i][0], f"--input {inputs[i]}") for i in order])
    index = faiss.IndexFlatIP(dims.pop())
    index.add(vectors)
    meta = inherited(shards[order[0]][2], drop=("shard_id", "shard_num", "corpus_docs"))
    meta["truncated_docs"] = sum(s[2].get("truncated_docs", 0) for s in shards)
    meta["encode_seconds"] = round(sum(s[2].get("encode_seconds", 0) for s in shards), 2)
    meta["merged_from"] = [str(inputs[i]) for i in order]
    with atomic_dir(output, overwrite) as tmp:
        return write_index_dir(tmp, index, docids, meta)


@cli("jpq-pyserini merge")
def main(argv=None):
    p = Parser(prog="jpq-pyserini merge", description=__doc__.splitlines()[0])
    p.add_argument("--input", nargs="+", required=True, help="shard index dirs")
    p.add_argument("--output", required=True)
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    meta = merge_shards(args.input, args.output, args.overwrite)
    print(f"merged {len(args.input)} shards: {meta['num_docs']} documents -> {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
