"""``jpq-pyserini merge``: join index shards into one index dir.

Flat shards (from ``encode --shard-id``), or PQ index dirs that share one model (from
``index --codebook``: shards of one corpus, or a corpus and its later growth). Mirrors
``pyserini.index.merge_faiss_indexes``; shards with ids are joined in shard-id order, which
restores the corpus order of a single pass, others in the order given.
"""
import sys

import faiss
import numpy as np

from .errors import Parser, UsageError, cli
from .fsutil import atomic_dir, check_output_dir
from .indexdir import (check_unique, flat_vectors, inherited, pq_parts, read_assignment, read_index_dir,
                       write_assignment, write_index_dir)


def merge_shards(inputs, output, overwrite=False):
    check_output_dir(output, overwrite, inputs=[("--input", d) for d in inputs])
    shards = [read_index_dir(d, "--input") for d in inputs]
    kinds = {s[2].get("kind", "flat") == "flat" for s in shards}
    if len(kinds) != 1:
        raise UsageError("--input: mixes flat and PQ index dirs; merge shards of one kind")
    flat = kinds.pop()
    with_ids = all("shard_id" in s[2] for s in shards)
    order = sorted(range(len(shards)), key=lambda i: shards[i][2].get("shard_id", i)) if flat or with_ids \
        else list(range(len(shards)))
    if flat or with_ids:
        ids = [shards[i][2].get("shard_id", i) for i in order]
        nums = {s[2].get("shard_num", len(shards)) for s in shards}
        if nums != {len(shards)} or ids != list(range(len(shards))):
            raise UsageError(f"--input: expected shards 0..{len(shards) - 1} of one corpus, got ids {ids} of {sorted(nums)}")
    dims = {s[0].d for s in shards}
    if len(dims) != 1:
        raise UsageError(f"--input: shards have different dimensions {sorted(dims)}")
    if flat:
        index = faiss.IndexFlatIP(dims.pop())
        index.add(np.concatenate([flat_vectors(shards[i][0], f"--input {inputs[i]}") for i in order]))
    else:
        index, assignment = join_pq([(inputs[i], *shards[i]) for i in order])
    docids = [d for i in order for d in shards[i][1]]
    check_unique(docids, "--input")
    meta = inherited(shards[order[0]][2], drop=("shard_id", "shard_num", "corpus_docs", "source_index"))
    meta["truncated_docs"] = sum(s[2].get("truncated_docs", 0) for s in shards)
    meta["encode_seconds"] = round(sum(s[2].get("encode_seconds", 0) for s in shards), 2)
    meta["merged_from"] = [str(inputs[i]) for i in order]
    with atomic_dir(output, overwrite) as tmp:
        if not flat:
            write_assignment(tmp, assignment)
        return write_index_dir(tmp, index, docids, meta)


def model_of(directory, index, meta):
    """What must be equal for two PQ index dirs' codes and scores to mean the same: the index
    kind, the rotation, the assignment and scoring centroids and, for IVF, the coarse centroids."""
    from faiss.contrib.inspect_tools import get_pq_centroids

    rotation, inner = pq_parts(index, meta, directory, "--input")
    parts = {"index kind": f"{type(faiss.downcast_index(index)).__name__}/{type(inner).__name__}",
             "PQ shape": (inner.pq.M, inner.pq.nbits), "rotation": rotation, "centroids": get_pq_centroids(inner.pq),
             "assignment centroids": read_assignment(directory, inner.pq, "--input")}
    if isinstance(inner, faiss.IndexIVF):
        parts["coarse centroids"] = inner.quantizer.reconstruct_n(0, inner.nlist)
    return parts, inner


def join_pq(shards):
    """(one faiss index holding the codes of ``shards`` ((dir, index, docids, meta), in order),
    their assignment centroids), refusing shards whose models differ (their codes would not mean
    the same)."""
    first, inner = model_of(shards[0][0], shards[0][1], shards[0][3])
    for directory, index, _, meta in shards[1:]:
        parts, _ = model_of(directory, index, meta)
        for key, value in first.items():
            other = parts[key]
            same = (value is None and other is None) if value is None or other is None else np.array_equal(value, other)
            if not same:
                raise UsageError(f"--input {directory}: not quantized with the model of {shards[0][0]} ({key}: not the "
                                 f"same); only index dirs quantized with one model (index --codebook) can be merged")
    merged, ivf = faiss.clone_index(shards[0][1]), isinstance(inner, faiss.IndexIVF)
    for _, index, _, _ in shards[1:]:
        merged.merge_from(index, merged.ntotal if ivf else 0)  # IVF keeps ids: rows continue after the last
    return merged, first["assignment centroids"]


@cli("jpq-pyserini merge")
def main(argv=None):
    p = Parser(prog="jpq-pyserini merge", description=__doc__.splitlines()[0])
    p.add_argument("--input", nargs="+", required=True, help="shard index dirs: flat, or PQ dirs quantized with one model")
    p.add_argument("--output", required=True)
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    meta = merge_shards(args.input, args.output, args.overwrite)
    print(f"merged {len(args.input)} shards: {meta['num_docs']} documents -> {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
