"""Retrieval inside training and evaluation: the scorer protocol, streaming top-k, ranks, dev metrics.

A *scorer* is the document side of the model in torch. Two implement it:
``codebook.PQCodebook`` (exact ADC over fixed codes with trainable centroids, the score faiss
computes) and ``FlatScorer`` (the uncompressed vectors, for ``--target flat``). The negative
sampler, the dev evaluation of ``train`` and the JPQ start-point choice of ``reproduce`` all
retrieve through the functions below, which stream over document chunks: memory is
O(queries x chunk), never O(queries x corpus).
"""
from typing import Protocol

import torch

DOC_CHUNK = 65536
RANK_TOLERANCE = 1e-6


class Scorer(Protocol):
    ntotal: int                                           # number of documents (rows)
    centroids: object                                     # trainable PQ centroids, or None

    def score_range(self, q, start, end):                 # [B, end - start]: rows start..end-1
        ...

    def score_pairs(self, q, doc_rows):                   # [B, n]: doc_rows [B, n], a list per query
        ...


class FlatScorer(torch.nn.Module):
    """The uncompressed document vectors behind the scorer protocol (``--target flat``)."""

    centroids = None

    def __init__(self, vectors):
        super().__init__()
        self.register_buffer("vectors", torch.as_tensor(vectors, dtype=torch.float32))

    @property
    def ntotal(self):
        return self.vectors.shape[0]

    def score_range(self, q, start, end):
        return q @ self.vectors[start:end].T

    def score_pairs(self, q, doc_rows):
        return torch.einsum("bd,bnd->bn", q, self.vectors[doc_rows])

    def score_all(self, q):
        return self.score_range(q, 0, self.ntotal)


@torch.no_grad()
def search(scorer, q, k, chunk=DOC_CHUNK):
    """(scores [B, k], rows [B, k]) of the top ``k`` documents, best first, by a running
    top-k merge over document chunks."""
    k = min(k, scorer.ntotal)
    best_s = best_i = None
    for start in range(0, scorer.ntotal, chunk):
        s = scorer.score_range(q, start, min(start + chunk, scorer.ntotal))
        top = s.topk(min(k, s.shape[1]), dim=1)
        cand_s, cand_i = top.values, top.indices + start
        if best_s is not None:
            cand_s, cand_i = torch.cat([best_s, cand_s], 1), torch.cat([best_i, cand_i], 1)
            top = cand_s.topk(k, dim=1)
            cand_s, cand_i = top.values, torch.gather(cand_i, 1, top.indices)
        best_s, best_i = cand_s, cand_i
    return best_s, best_i


@torch.no_grad()
def ranks(scorer, q, rows, chunk=DOC_CHUNK):
    """Rank [B, n] (1 = best) of the documents ``rows`` [B, n] in each query's full ranking:
    one plus the number of documents that score higher, counted chunk by chunk. "Higher"
    means by more than float32 rounding, so that a document scored by two kernels (pairs
    here, ranges below) never outranks itself."""
    target = scorer.score_pairs(q, rows)
    target = target + RANK_TOLERANCE * target.abs().clamp(min=1)
    out = torch.ones_like(rows)
    for start in range(0, scorer.ntotal, chunk):
        s = scorer.score_range(q, start, min(start + chunk, scorer.ntotal)).sort(dim=1).values
        out += s.shape[1] - torch.searchsorted(s, target.contiguous(), right=True)
    return out


@torch.no_grad()
def evaluate_dev(encoder, scorer, split, docids, k=100, batch_size=256):
    """ranx's nDCG@10, MRR@10 and R@100 of ``split`` (a ``datasets.JudgedQueries``)."""
    from ranx import Qrels, Run, evaluate

    run = {}
    for s in range(0, len(split.qids), batch_size):
        qids = split.qids[s:s + batch_size]
        q = torch.as_tensor(encoder.encode([split.texts[i] for i in qids])).to(encoder.device)
        scores, rows = search(scorer, q, k)
        run.update((qid, {docids[r]: float(v) for v, r in zip(ss.tolist(), rr.tolist())})
                   for qid, ss, rr in zip(qids, scores, rows))
    m = evaluate(Qrels({q: split.qrels[q] for q in split.qids}), Run(run), ["ndcg@10", "mrr@10", "recall@100"])
    return {k: round(float(v), 5) for k, v in m.items()}
