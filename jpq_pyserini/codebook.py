"""JPQ idea 2: the PQ codebook as trainable parameters, read from and written to faiss.

A faiss index ``IndexPreTransform(OPQMatrix, IndexPQ)`` (or a bare ``IndexPQ``) scores a
query q against document n as

    score(q, n) = sum_m < (A q)_m , C[m, code[n, m]] >

with A the fixed OPQ rotation, C the M x K x d/M centroids and code[n] the document's M
sub-codes. ``PQCodebook`` holds A and the codes as buffers (fixed) and C as a Parameter
(trained), computes exactly this score in torch, and writes C back into a copy of the faiss
index, so training and search agree (tests check equality with faiss's own scores).
"""
import faiss
import numpy as np
import torch

from .errors import UsageError


def unpack_codes(raw, M, nbits):
    """faiss packs sub-codes LSB-first; return an int64 [n, M] array of centroid ids."""
    raw = np.asarray(raw, dtype=np.uint8)
    if nbits == 8:
        return raw.reshape(-1, M).astype(np.int64)
    if nbits == 4:
        raw = raw.reshape(-1, (M + 1) // 2)
        return np.stack([raw & 15, raw >> 4], axis=-1).reshape(raw.shape[0], -1)[:, :M].astype(np.int64)
    raise UsageError(f"nbits {nbits}: only 4 and 8 are supported")


def split_index(index):
    """(rotation matrix or None, inner PQ index) of an index as ``jpq-pyserini index`` writes it."""
    rotation = None
    if isinstance(index, faiss.IndexPreTransform) or hasattr(index, "chain"):
        index = faiss.downcast_index(index)
        if index.chain.size() != 1:
            raise UsageError(f"expected one OPQ transform before the PQ index, found {index.chain.size()}")
        vt = faiss.downcast_VectorTransform(index.chain.at(0))
        rotation = faiss.vector_to_array(vt.A).reshape(vt.d_out, vt.d_in)
        if vt.have_bias:
            raise UsageError("the index's transform has a bias; only linear OPQ rotations are supported")
        inner = faiss.downcast_index(index.index)
    else:
        inner = faiss.downcast_index(index)
    if not isinstance(inner, (faiss.IndexPQ, faiss.IndexPQFastScan)):
        raise UsageError(f"expected a PQ index (IndexPQ or IndexPQFastScan), found {type(inner).__name__}")
    return rotation, inner


class PQCodebook(torch.nn.Module):
    def __init__(self, centroids, codes, rotation=None):
        super().__init__()
        self.M, self.K, self.dsub = centroids.shape
        self.centroids = torch.nn.Parameter(torch.as_tensor(centroids, dtype=torch.float32).clone())
        # uint8 keeps 1M x 96 codes at 96 MB; they are widened per batch where indexing needs it.
        self.register_buffer("codes", torch.as_tensor(np.asarray(codes), dtype=torch.uint8).clone())
        self.register_buffer("rotation", None if rotation is None else
                             torch.as_tensor(rotation, dtype=torch.float32).clone())

    @classmethod
    def from_faiss(cls, index):
        rotation, pq_index = split_index(index)
        pq = pq_index.pq
        centroids = faiss.vector_to_array(pq.centroids).reshape(pq.M, pq.ksub, pq.dsub)
        if isinstance(pq_index, faiss.IndexPQFastScan):
            # Fast-scan codes live in a SIMD block layout; the reconstructions are centroids,
            # so re-encoding them gives back each document's codes exactly.
            recon = pq_index.reconstruct_n(0, pq_index.ntotal)
            codes = unpack_codes(pq.compute_codes(recon), pq.M, pq.nbits)
        else:
            codes = unpack_codes(faiss.vector_to_array(pq_index.codes), pq.M, pq.nbits)
        return cls(centroids, codes, rotation)

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
        # lut [B, M, K], codes [n, M] -> scores [B, n]
        offsets = torch.arange(self.M, device=lut.device) * self.K
        flat = (codes.long() + offsets).view(-1)
        return lut.reshape(lut.shape[0], -1)[:, flat].view(lut.shape[0], codes.shape[0], self.M).sum(-1)

    def score(self, q, doc_rows):
        """Scores [B, n] of queries q [B, d] against the documents at rows doc_rows [n]."""
        return self._gather(self.lookup_tables(q), self.codes[doc_rows])

    def score_pairs(self, q, doc_rows):
        """Scores [B, n] where doc_rows [B, n] holds a separate list of rows per query."""
        lut = self.lookup_tables(q)
        codes = self.codes[doc_rows].long()                            # [B, n, M]
        idx = codes.permute(0, 2, 1)                                   # [B, M, n]
        return torch.gather(lut, 2, idx).sum(1)

    def score_all(self, q, chunk=262144):
        """Exact ADC scores [B, N] against the whole corpus, chunked over documents."""
        lut = self.lookup_tables(q)
        return torch.cat([self._gather(lut, self.codes[s:s + chunk]) for s in range(0, self.ntotal, chunk)], 1)

    def reconstruct(self, doc_rows):
        """Rotated-space reconstructions [n, d] of the documents at doc_rows."""
        codes = self.codes[doc_rows].long()
        return self.centroids[torch.arange(self.M, device=codes.device), codes].reshape(len(codes), -1)

    def to_faiss(self, index):
        """A copy of ``index`` whose PQ centroids are this codebook's (codes and OPQ unchanged)."""
        out = faiss.clone_index(index)
        _, pq_index = split_index(out)
        faiss.copy_array_to_vector(self.centroids.detach().float().cpu().numpy().ravel(), pq_index.pq.centroids)
        return out


class FlatScorer(torch.nn.Module):
    """The uncompressed document vectors behind the same scoring interface (``--target flat``)."""

    def __init__(self, vectors):
        super().__init__()
        self.register_buffer("vectors", torch.as_tensor(vectors, dtype=torch.float32))

    @property
    def ntotal(self):
        return self.vectors.shape[0]

    def score_all(self, q, chunk=262144):
        return torch.cat([q @ self.vectors[s:s + chunk].T for s in range(0, self.ntotal, chunk)], 1)

    def score_pairs(self, q, doc_rows):
        return torch.einsum("bd,bnd->bn", q, self.vectors[doc_rows])
