"""JPQ idea 2: the PQ codebook as trainable parameters, read from and written to faiss.

A faiss index ``IndexPreTransform(OPQMatrix, IndexPQ)`` (or a bare ``IndexPQ``; or
``IndexPQFastScan``; or ``IndexIVFPQ[FastScan]`` with ``by_residual = False``, whose lists
share one codebook) scores a query q against document n as

    score(q, n) = sum_m < (A q)_m , C[m, code[n, m]] >

with A the fixed OPQ rotation, C the M x K x d/M centroids and code[n] the document's M
sub-codes. ``PQCodebook`` holds A and the codes as buffers (fixed) and C as a Parameter
(trained), computes exactly this score in torch, and writes C back into a copy of the faiss
index, so training and search agree (tests check equality with faiss's own scores).
"""
import faiss
import numpy as np
import torch
from faiss.contrib.inspect_tools import get_LinearTransform_matrix, get_pq_centroids

from .errors import UsageError
from .indexdir import is_rotation


CODE_CHUNK = 1 << 20  # documents per chunk when codes are unpacked


def unpack_codes(raw, M, nbits):
    """faiss packs sub-codes LSB-first; return a uint8 [n, M] array of centroid ids."""
    raw = np.asarray(raw, dtype=np.uint8)
    if nbits == 8:
        return raw.reshape(-1, M)
    if nbits == 4:
        raw = raw.reshape(-1, (M + 1) // 2)
        return np.stack([raw & 15, raw >> 4], axis=-1).reshape(raw.shape[0], -1)[:, :M]
    raise UsageError(f"nbits {nbits}: only 4 and 8 are supported")


def read_codes(pq_index, chunk=CODE_CHUNK):
    """uint8 [n, M] centroid ids of every document, read from the index's code storage chunk
    by chunk: never a float reconstruction of the corpus (27 GB at MS MARCO's 8.8M x 768).
    Fast-scan storage interleaves 32 documents per SIMD block; faiss's CodePacker undoes that
    one block at a time."""
    pq, n = pq_index.pq, pq_index.ntotal
    if isinstance(pq_index, faiss.IndexIVF):
        return _read_ivf_codes(pq_index)
    stored = faiss.rev_swig_ptr(pq_index.codes.data(), pq_index.codes.size())  # a view, no copy
    out = np.empty((n, pq.M), dtype=np.uint8)
    if isinstance(pq_index, faiss.IndexPQFastScan):
        packer = pq_index.get_CodePacker()
        per_block = packer.nvec
        chunk -= chunk % per_block
        flat = np.empty((chunk, packer.code_size), dtype=np.uint8)
        for start in range(0, n, chunk):
            end = min(start + chunk, n)
            for b in range(0, end - start, per_block):
                packer.unpack_all(faiss.swig_ptr(stored[(start + b) // per_block * packer.block_size:]),
                                  faiss.swig_ptr(flat[b:]))
            out[start:end] = unpack_codes(flat[:end - start], pq.M, pq.nbits)
        return out
    size = pq.code_size
    for start in range(0, n, chunk):
        end = min(start + chunk, n)
        out[start:end] = unpack_codes(stored[start * size:end * size], pq.M, pq.nbits)
    return out


PQ_INDEXES = (faiss.IndexPQ, faiss.IndexPQFastScan, faiss.IndexIVFPQ, faiss.IndexIVFPQFastScan)


def split_index(index):
    """(rotation or None, inner PQ index) of an index as ``jpq-pyserini index`` or ``train``
    writes it: the chain before the PQ (an OPQ rotation) composed into one matrix ``A``,
    ``y = A x``. A chain that is not orthonormal holds a query-only map (``fold-head``'s copy for
    stock Pyserini): documents added through it would be mis-encoded, so it is refused."""
    rotation = None
    if isinstance(index, faiss.IndexPreTransform) or hasattr(index, "chain"):
        index = faiss.downcast_index(index)
        for i in range(index.chain.size()):
            vt = faiss.downcast_VectorTransform(index.chain.at(i))
            if not isinstance(vt, faiss.LinearTransform):
                raise UsageError(f"expected linear transforms (OPQ) before the PQ index, found {type(vt).__name__}")
            a, b = get_LinearTransform_matrix(vt)
            if not is_rotation(a, b if vt.have_bias else None):
                raise UsageError("its transform is not an orthonormal rotation: a query head folded in for stock "
                                 "Pyserini (fold-head); use the index dir that train wrote, with its encoder")
            rotation = a if rotation is None else a @ rotation
        inner = faiss.downcast_index(index.index)
    else:
        inner = faiss.downcast_index(index)
    if isinstance(inner, (faiss.IndexIVFPQ, faiss.IndexIVFPQFastScan)) and inner.by_residual:
        raise UsageError(f"{type(inner).__name__} encodes residuals, so every list has its own codebook; JPQ needs "
                         f"one shared codebook: build with `jpq-pyserini index --ivf NLIST` (by_residual = False)")
    if not isinstance(inner, PQ_INDEXES):
        raise UsageError(f"expected a PQ index ({', '.join(c.__name__ for c in PQ_INDEXES)}), "
                         f"found {type(inner).__name__}")
    return rotation, inner


def _read_ivf_codes(ivf):
    """Codes of an inverted-file index, list by list, placed at each document's row (its id)."""
    pq, invlists = ivf.pq, ivf.invlists
    packer = ivf.get_CodePacker()  # blocks of 32 documents for fast-scan lists, single codes otherwise
    out = np.empty((ivf.ntotal, pq.M), dtype=np.uint8)
    for lst in range(ivf.nlist):
        size = invlists.list_size(lst)
        if size == 0:
            continue
        ids = faiss.rev_swig_ptr(invlists.get_ids(lst), size).copy()
        blocks = -(-size // packer.nvec)
        stored = faiss.rev_swig_ptr(invlists.get_codes(lst), blocks * packer.block_size)
        if packer.nvec == 1:  # plain codes, one after another
            flat = stored.reshape(size, packer.code_size)
        else:
            flat = np.empty((blocks * packer.nvec, packer.code_size), dtype=np.uint8)
            for b in range(blocks):
                packer.unpack_all(faiss.swig_ptr(stored[b * packer.block_size:]),
                                  faiss.swig_ptr(flat[b * packer.nvec:]))
        out[ids] = unpack_codes(flat[:size], pq.M, pq.nbits)
    return out


class PQCodebook(torch.nn.Module):
    def __init__(self, centroids, codes, rotation=None):
        super().__init__()
        self.M, self.K, self.dsub = centroids.shape
        self.centroids = torch.nn.Parameter(torch.as_tensor(centroids, dtype=torch.float32).clone())
        # uint8 keeps 8.8M x 48 codes at 424 MB (shared with the array passed in, not copied);
        # they are widened per batch where indexing needs it.
        self.register_buffer("codes", torch.as_tensor(np.ascontiguousarray(codes, dtype=np.uint8)))
        self.register_buffer("rotation", None if rotation is None else
                             torch.as_tensor(rotation, dtype=torch.float32).clone())
        self.register_buffer("sub_offsets", torch.arange(self.M, dtype=torch.int32) * self.K, persistent=False)

    @classmethod
    def from_faiss(cls, index):
        rotation, pq_index = split_index(index)
        return cls(get_pq_centroids(pq_index.pq), read_codes(pq_index), rotation)

    @property
    def dim(self):
        return self.M * self.dsub

    @property
    def ntotal(self):
        return self.codes.shape[0]

    def rotate(self, q):
        return q if self.rotation is None else q @ self.rotation.T

    def lookup_tables(self, q):
        """[B, M, K]: inner product of each rotated query part with every centroid."""
        parts = self.rotate(q).view(q.shape[0], self.M, self.dsub)
        return torch.einsum("bmd,mkd->bmk", parts, self.centroids)

    def _gather(self, lut, codes):
        """Scores [B, n] from lookup tables [B, M, K] and codes [n, M], as one embedding bag:
        row m*K + k of the table holds every query's score for centroid k of sub-space m, and a
        document is the bag of its M rows, summed. One pass over the codes serves all B queries
        (faiss's IndexPQ scans the codes once per query): 3.5x faster than faiss for a batch of
        32 (benchmarks/mining_speed.py), and differentiable in the tables."""
        table = lut.permute(1, 2, 0).reshape(self.M * self.K, lut.shape[0])
        rows = (codes.to(torch.int32) + self.sub_offsets).reshape(-1)
        bags = torch.arange(0, rows.numel(), self.M, dtype=torch.int32, device=rows.device)
        return torch.nn.functional.embedding_bag(rows, table, bags, mode="sum").T

    def score_range(self, q, start, end):
        """Scores [B, end - start] against the documents at rows start..end-1."""
        return self._gather(self.lookup_tables(q), self.codes[start:end])

    def score(self, q, doc_rows):
        """Scores [B, n] of queries q [B, d] against the documents at rows doc_rows [n]."""
        return self._gather(self.lookup_tables(q), self.codes[doc_rows])

    def score_pairs(self, q, doc_rows):
        """Scores [B, n] where doc_rows [B, n] holds a separate list of rows per query."""
        lut = self.lookup_tables(q)
        codes = self.codes[doc_rows]                                   # [B, n, M], one byte a code
        out = torch.zeros(doc_rows.shape, device=lut.device, dtype=lut.dtype)
        for m in range(self.M):  # widened one sub-space at a time: [B, n, M] int64 is 8x the memory traffic
            out = out + torch.gather(lut[:, m], 1, codes[:, :, m].long())
        return out

    def score_all(self, q):
        """Exact ADC scores [B, N] against the whole corpus (small corpora and tests; the
        training and evaluation paths stream with ``retrieval.search``)."""
        return self.score_range(q, 0, self.ntotal)

    def reconstruct(self, doc_rows):
        """Rotated-space reconstructions [n, d] of the documents at doc_rows."""
        codes = self.codes[doc_rows].long()
        return self.centroids[torch.arange(self.M, device=codes.device), codes].reshape(len(codes), -1)

    def write_into(self, index):
        """Copy these centroids into ``index``'s PQ (codes and OPQ rotation unchanged)."""
        _, pq_index = split_index(index)
        faiss.copy_array_to_vector(self.centroids.detach().float().cpu().numpy().ravel(), pq_index.pq.centroids)
        return index

    def to_faiss(self, index):
        """A copy of ``index`` whose PQ centroids are this codebook's."""
        return self.write_into(faiss.clone_index(index))
