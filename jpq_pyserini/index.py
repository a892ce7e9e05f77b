"""``jpq-pyserini index``: a PQ index dir from a flat index dir (OPQ+PQ by default, ``--no-opq`` for plain PQ).

``--codebook INDEX_DIR`` quantizes the flat vectors with another index dir's model instead of
training one: a JPQ-trained index (zero-shot transfer to a new corpus, index shards, a corpus
that grows) or any PQ index dir. Its rotation and the centroids its own codes were assigned
with choose the codes, and its (trained) centroids score them, so the training corpus itself
re-indexed this way gets back its very codes.

Mirrors ``pyserini.index.faiss`` (``--input --output --pq-m --pq-nbits``, plus ``--opq /
--no-opq``, ``--fast-scan`` and ``--ivf NLIST``). Codes are assigned by nearest centroid (L2), as faiss's
IndexPQ.add does, also for inner-product search: assigning by largest inner product
cost 2-7 points of nDCG@10 on SciFact (../shared/NOTES.md).

Why OPQ is the default (SciFact, MiniLM, nDCG@10, measured here): the dev split
(train/dev, the split for choices like this) prefers OPQ at every M tried: M=16 0.544 vs
PQ 0.493, M=24 0.576 vs 0.491, M=48 0.651 vs 0.623. On the test split OPQ wins clearly at
M=16 (0.556 vs 0.486) and M=24 (0.578 vs 0.532) and ties at M=48 (0.626 vs 0.629) and
M=96 (0.641 vs 0.641). OPQ costs training time (41 s vs 3.6 s at M=48 on 5,183 vectors),
and faiss 1.15's OPQ training crashes with fewer vectors than dimensions, so with the
default (neither flag) such a small corpus falls back to plain PQ, with a note.
"""
import argparse
import contextlib
import math
import sys
import time

import faiss
import numpy as np

from .errors import Parser, UsageError, cli, positive_int
from .fsutil import atomic_dir, check_output_dir
from .indexdir import (flat_vectors, pq_parts, read_assignment, read_index_dir, write_assignment,
                       write_index_dir)


def check_pq_shape(dim, m, nbits):
    if nbits not in (4, 8):
        raise UsageError(f"--pq-nbits {nbits}: expected 4 or 8")
    if m < 1 or dim % m:
        divisors = [k for k in range(1, dim + 1) if dim % k == 0]
        raise UsageError(f"--pq-m {m}: must divide the dimension {dim} (e.g. {', '.join(map(str, divisors[-8:]))})")


def new_pq_index(dim, m, nbits, opq=True, seed=1234):
    pq_index = faiss.IndexPQ(dim, m, nbits, faiss.METRIC_INNER_PRODUCT)
    # Polysemous relabelling only helps Hamming filtering, which IP search never uses, and
    # costs ~18x the training time (NOTES.md).
    pq_index.do_polysemous_training = False
    # faiss warns per sub-quantizer below 39 points per centroid (SciFact: 5,183 docs for
    # 256 centroids); the build reports that once instead.
    pq_index.pq.cp.min_points_per_centroid = 1
    pq_index.pq.cp.seed = seed
    if not opq:
        return pq_index
    rotation = faiss.OPQMatrix(dim, m)
    rotation.pq = pq_index.pq  # train the rotation with the same k-means settings
    return faiss.IndexPreTransform(rotation, pq_index)


def new_ivf_index(dim, m, nbits, opq, fast_scan, nlist, nprobe, seed=1234):
    """An inverted-file index whose one PQ codebook is shared by every list (``by_residual =
    False``): a document's score does not depend on its list, so JPQ-trained centroids drop in
    unchanged and the lists only choose which documents to score."""
    quantizer = faiss.IndexFlatIP(dim)  # faiss's Python wrapper keeps it alive with the index
    kind = faiss.IndexIVFPQFastScan if fast_scan else faiss.IndexIVFPQ
    index = ivf = kind(quantizer, dim, nlist, m, nbits, faiss.METRIC_INNER_PRODUCT)
    ivf.by_residual = False
    ivf.nprobe = nprobe
    ivf.cp.seed = seed
    ivf.pq.cp.seed = seed
    ivf.pq.cp.min_points_per_centroid = 1  # as new_pq_index: one note from the build, not a warning per k-means
    if opq:
        rotation = faiss.OPQMatrix(dim, m)
        rotation.pq = ivf.pq
        index = faiss.IndexPreTransform(rotation, ivf)
    return index


def default_nprobe(nlist):
    return max(1, nlist // 16)


def build_pq_index(vectors, m, nbits=8, opq=True, fast_scan=False, seed=1234, ivf=0, nprobe=None):
    """A trained, filled faiss index over ``vectors`` (float32 [n, d]); ``ivf`` > 0: an
    inverted-file index with that many lists, searched ``nprobe`` lists deep by default."""
    check_pq_shape(vectors.shape[1], m, nbits)
    if len(vectors) < 2 ** nbits:
        raise UsageError(f"--input: {len(vectors)} documents, fewer than the {2 ** nbits} centroids per sub-space "
                         f"of --pq-nbits {nbits}; use --pq-nbits 4 (16 centroids) or more documents")
    if fast_scan and nbits != 4:
        raise UsageError(f"--fast-scan needs --pq-nbits 4 (got {nbits}): faiss fast-scan packs 4-bit codes")
    need = opq_minimum(vectors.shape[1], nbits)
    if opq and len(vectors) < need:
        # faiss 1.15's OPQMatrix.train aborts the whole process (invalid free) on so few vectors.
        raise UsageError(f"--opq needs at least {need} training vectors here, got {len(vectors)}; use --no-opq")
    if ivf:
        check_ivf(ivf, nprobe, len(vectors))
        index = new_ivf_index(vectors.shape[1], m, nbits, opq, fast_scan, ivf, nprobe or default_nprobe(ivf), seed)
        train_one_thread(index, vectors)
        index.add(vectors)
        return index
    index = new_pq_index(vectors.shape[1], m, nbits, opq, seed)
    train_one_thread(index, vectors)
    index.add(vectors)
    if fast_scan:
        if opq:
            trained = faiss.downcast_VectorTransform(index.chain.at(0))
            rotation = faiss.OPQMatrix(trained.d_in, m)  # a copy owned by the new index
            faiss.copy_array_to_vector(faiss.vector_to_array(trained.A), rotation.A)
            rotation.is_trained = True
            rotation.is_orthonormal = True  # the copy loses faiss's flag; reconstruct (Pyserini's PRF) needs it
            index = faiss.IndexPreTransform(rotation, faiss.IndexPQFastScan(faiss.downcast_index(index.index)))
        else:
            index = faiss.IndexPQFastScan(index)
    return index


def train_one_thread(index, vectors):
    """Train on one thread: OPQ's SVDs and products, and the rotated vectors its k-means then
    sees, come out different with each thread count, and so does the whole index
    (eval/results/spread/scifact-kernels.md). Training reads a bounded sample (OPQ 65,536
    vectors, PQ k-means 256 per centroid), so this costs the same at any corpus size, except
    an inverted file's coarse k-means (256 x NLIST vectors), which grows with NLIST. The
    encoding of every document after it keeps all threads."""
    with omp_threads(1):
        index.train(vectors)


@contextlib.contextmanager
def omp_threads(n):
    """faiss's OpenMP threads set to ``n`` (None: unchanged) for the block, and restored after:
    torch shares the OpenMP runtime, so a count left behind would also slow every later torch
    op in the process (the trainings of ``reproduce``, which builds its indexes with one)."""
    before = faiss.omp_get_max_threads()
    if n:
        faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def check_ivf(nlist, nprobe, n):
    if nlist > n:
        raise UsageError(f"--ivf {nlist}: more lists than the {n} documents; use about 4 sqrt(N) to 16 sqrt(N) "
                         f"lists (here {min(n, 4 * int(math.sqrt(n)))} to {min(n, 16 * int(math.sqrt(n)))})")
    if nprobe is not None and nprobe > nlist:
        raise UsageError(f"--nprobe {nprobe}: larger than --ivf {nlist}, the number of lists")


def pq_meta(dim, m, nbits, opq, fast_scan, source_meta, ivf=0, nprobe=None):
    bytes_per_doc = m * nbits / 8
    return {"kind": "pq", "pq_m": m, "pq_nbits": nbits, "opq": opq, "fast_scan": fast_scan,
            **({"ivf": ivf, "nprobe": nprobe or default_nprobe(ivf)} if ivf else {}),
            "bytes_per_doc": bytes_per_doc, "compression_ratio": round(4 * dim / bytes_per_doc, 2),
            "corpus": source_meta.get("corpus"), "encoder": source_meta.get("encoder"),
            "pooling": source_meta.get("pooling"), "normalize": source_meta.get("normalize")}


def opq_minimum(dim, nbits):
    return max(2 * 2 ** nbits, dim + 1)


def index_flat_dir(input_dir, output, m, nbits=8, opq=None, fast_scan=False, overwrite=False, threads=None, seed=1234,
                   ivf=0, nprobe=None):
    """``opq=None``: OPQ when there are enough vectors to train it, else plain PQ."""
    if nprobe is not None and not ivf:
        raise UsageError(f"--nprobe {nprobe}: only for an inverted-file index (--ivf NLIST)")
    check_output_dir(output, overwrite, inputs=[("--input", input_dir)])
    flat, docids, source_meta = read_index_dir(input_dir, "--input")
    vectors = flat_vectors(flat, f"--input {input_dir}")
    check_pq_shape(vectors.shape[1], m, nbits)
    if ivf:
        check_ivf(ivf, nprobe, len(vectors))
    fallback = opq is None and len(vectors) < opq_minimum(vectors.shape[1], nbits)
    opq = (not fallback) if opq is None else opq
    t0 = time.perf_counter()
    with omp_threads(threads):
        index = build_pq_index(vectors, m, nbits, opq, fast_scan, seed, ivf, nprobe)
    meta = pq_meta(vectors.shape[1], m, nbits, opq, fast_scan, source_meta, ivf, nprobe)
    meta.update(source_index=str(input_dir), train_seconds=round(time.perf_counter() - t0, 2),
                train_vectors=len(vectors), opq_fallback=fallback)
    with atomic_dir(output, overwrite) as tmp:
        return write_index_dir(tmp, index, docids, meta)


# what an index made with --codebook takes from the codebook's meta.json (the rest from --input's)
MODEL_KEYS = ("kind", "pq_m", "pq_nbits", "opq", "fast_scan", "ivf", "nprobe", "bytes_per_doc", "compression_ratio",
              "jpq", "doc_encoder", "query_encoder", "train")
SOURCE_KEYS = ("corpus", "encoder", "pooling", "normalize", "shard_id", "shard_num")


def quantize_with(model, assignment, vectors):
    """An empty copy of the faiss index ``model`` filled with ``vectors``, coded with the
    ``assignment`` centroids (faiss's own nearest-centroid ``add``, after the rotation and, for
    IVF, into the lists of ``model``'s coarse quantizer), scored with ``model``'s centroids."""
    from faiss.contrib.inspect_tools import get_pq_centroids
    from .codebook import split_index

    index = faiss.clone_index(model)
    index.reset()
    pq = split_index(index)[1].pq
    trained = get_pq_centroids(pq)
    faiss.copy_array_to_vector(np.ascontiguousarray(assignment, dtype=np.float32).ravel(), pq.centroids)
    index.add(vectors)
    faiss.copy_array_to_vector(trained.ravel(), pq.centroids)
    return index


def index_with_codebook(input_dir, output, codebook, overwrite=False, threads=None):
    check_output_dir(output, overwrite, inputs=[("--input", input_dir), ("--codebook", codebook)])
    flat, docids, source_meta = read_index_dir(input_dir, "--input")
    vectors = flat_vectors(flat, f"--input {input_dir}")
    model, _, meta = read_index_dir(codebook, "--codebook")
    if meta.get("kind") == "flat":
        raise UsageError(f"--codebook {codebook}: a flat index dir; expected a PQ index dir (from index or train)")
    pq = pq_parts(model, meta, codebook, "--codebook")[1].pq
    if model.d != vectors.shape[1]:
        raise UsageError(f"--codebook {codebook}: a {model.d}-dimensional model, but --input {input_dir} holds "
                         f"{vectors.shape[1]}-dimensional vectors")
    doc_encoder, encoder = meta.get("doc_encoder") or meta.get("encoder"), source_meta.get("encoder")
    if doc_encoder and encoder and doc_encoder != encoder:
        print(f"jpq-pyserini index: note: --input was encoded with {encoder}, --codebook's documents with "
              f"{doc_encoder}; the codes are meaningful only if both are the same model", file=sys.stderr)
    assignment = read_assignment(codebook, pq)
    t0 = time.perf_counter()
    with omp_threads(threads):
        index = quantize_with(model, assignment, vectors)
    out_meta = {**{k: meta[k] for k in MODEL_KEYS if k in meta}, **{k: source_meta[k] for k in SOURCE_KEYS if k in source_meta},
                "source_index": str(input_dir), "codebook": str(codebook),
                "train_seconds": round(time.perf_counter() - t0, 2)}
    with atomic_dir(output, overwrite) as tmp:
        write_assignment(tmp, assignment)
        return write_index_dir(tmp, index, docids, out_meta)


def build_parser():
    p = Parser(prog="jpq-pyserini index", description=__doc__.splitlines()[0])
    p.add_argument("--input", required=True, help="flat index dir (from jpq-pyserini encode)")
    p.add_argument("--output", required=True, help="PQ index dir to write")
    p.add_argument("--codebook", default=None, metavar="INDEX_DIR",
                   help="quantize with this (JPQ-trained or PQ) index dir's model instead of training one; "
                        "the index kind and its flags come from it")
    p.add_argument("--pq-m", type=positive_int, default=None, help="sub-vectors per document (must divide the "
                                                                   "dimension; default 48)")
    p.add_argument("--pq-nbits", type=int, default=None, help="bits per sub-code: 8 (256 centroids, the default) or 4")
    p.add_argument("--opq", action=argparse.BooleanOptionalAction, default=None,
                   help="learn an OPQ rotation first (default: yes, when the corpus has enough vectors)")
    p.add_argument("--fast-scan", action="store_true", help="write a SIMD fast-scan index (needs --pq-nbits 4)")
    p.add_argument("--ivf", type=positive_int, default=0, metavar="NLIST",
                   help="inverted-file index with NLIST lists sharing one PQ codebook (IndexIVFPQ[FastScan]); about "
                        "4 sqrt(N) or more: fewer, larger lists lose more at the same share probed (docs/fast-search.md)")
    p.add_argument("--nprobe", type=positive_int, default=None,
                   help="lists searched per query, recorded in the index (default NLIST/16; search --nprobe overrides)")
    p.add_argument("--threads", type=positive_int, default=None, help="faiss OpenMP threads for training")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--overwrite", action="store_true")
    return p


@cli("jpq-pyserini index")
def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.codebook:
        given = [f for f, v in (("--pq-m", args.pq_m), ("--pq-nbits", args.pq_nbits), ("--opq/--no-opq", args.opq),
                                ("--fast-scan", args.fast_scan or None), ("--ivf", args.ivf or None),
                                ("--nprobe", args.nprobe)) if v is not None]
        if given:
            raise UsageError(f"{given[0]}: --codebook {args.codebook} fixes the index kind; drop {', '.join(given)}")
        meta = index_with_codebook(args.input, args.output, args.codebook, args.overwrite, args.threads)
        print(f"quantized {meta['num_docs']} documents with the model of {args.codebook}: "
              f"{meta['bytes_per_doc']:g} bytes/doc -> {args.output}", file=sys.stderr)
        return
    meta = index_flat_dir(args.input, args.output, args.pq_m or 48, args.pq_nbits or 8, args.opq, args.fast_scan,
                          args.overwrite, args.threads, args.seed, args.ivf, args.nprobe)
    ivf = f"IVF{args.ivf}+" if args.ivf else ""
    probe = f" (nprobe {meta['nprobe']})" if args.ivf else ""
    kind = (f"{'OPQ+' if meta['opq'] else ''}{ivf}PQ{meta['pq_m']}x{meta['pq_nbits']}"
            f"{' fast-scan' if meta['fast_scan'] else ''}{probe}")
    note = ""
    if meta["opq_fallback"]:
        note += "; plain PQ: too few vectors to train OPQ (pass --no-opq to silence)"
    if meta["train_vectors"] < 39 * 2 ** meta["pq_nbits"]:
        note += f"; note: trained on {meta['train_vectors']} vectors, fewer than faiss's recommended {39 * 2 ** meta['pq_nbits']}"
    print(f"built {kind} over {meta['num_docs']} documents: {meta['bytes_per_doc']:g} bytes/doc, "
          f"{meta['compression_ratio']:g}x smaller than float32, {meta['train_seconds']:.1f} s{note} -> {args.output}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
