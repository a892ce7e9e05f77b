"""Retrieval inside training and evaluation: the scorer protocol, one retriever, dev metrics.

A *scorer* is the document side of the model in torch. Two implement it:
``codebook.PQCodebook`` (exact ADC over fixed codes with trainable centroids, the score faiss
computes) and ``FlatScorer`` (the uncompressed vectors, for ``--target flat``).

A ``Retriever`` returns the top k of the *current* model; the negative sampler, the dev
evaluation of ``train`` and the JPQ start-point choice of ``reproduce`` all retrieve through
it, in one of two ways (``--mining``):
  torch  exact scores streamed over document chunks with a running top-k merge, on the
         training device (CPU or CUDA): memory O(queries x chunk), never O(queries x corpus);
  faiss  the current centroids copied into the faiss index, then faiss's own search (its
         ADC kernels on CPU, or faiss GPU where installed: ``faiss-gpu``).
``auto`` takes faiss above ``--mining-threshold`` documents for an inverted-file or fast-scan
index (faiss scans a few lists, or 32 codes per SIMD instruction) and torch otherwise: for an
exhaustive ``IndexPQ`` the torch path scans the codes once for a whole batch of queries
where faiss scans them once per query, and was 1.4x faster than faiss at 1M documents
(``benchmarks/mining_speed.py``).
"""
from typing import Protocol

import torch

from .errors import UsageError

DOC_CHUNK = 65536
FAISS_ABOVE = 1_000_000
MINING = ("auto", "torch", "faiss", "faiss-gpu")


class Scorer(Protocol):
    ntotal: int                                           # number of documents (rows)
    centroids: object                                     # trainable PQ centroids, or None

    def score_range(self, q, start, end):                 # [B, end - start]: rows start..end-1
        ...

    def score_pairs(self, q, doc_rows):                   # [B, n]: doc_rows [B, n], a list per query
        ...

    def write_into(self, index):                          # the faiss index, scoring as this scorer now does
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

    def write_into(self, index):
        return index  # document vectors never train


@torch.no_grad()
def stream_topk(scorer, q, k, chunk=DOC_CHUNK):
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


def faiss_gpus():
    import faiss
    return faiss.get_num_gpus() if hasattr(faiss, "StandardGpuResources") else 0


def faster_in_faiss(index):
    """An index faiss searches faster than a dense scan: inverted lists, or 4-bit fast-scan."""
    import faiss
    inner = faiss.downcast_index(index.index if isinstance(index, faiss.IndexPreTransform) else index)
    return isinstance(inner, (faiss.IndexIVF, faiss.IndexPQFastScan))


def choose_mining(mining, ntotal, device, index, threshold=FAISS_ABOVE):
    """The retrieval path ``--mining`` names, or ``auto``'s choice; one line for a path this
    machine or this run cannot serve."""
    if mining not in MINING:
        raise UsageError(f"--mining {mining}: expected one of {', '.join(MINING)}")
    cuda = str(device).startswith("cuda")
    if mining == "auto":
        if ntotal <= threshold or index is None or not faster_in_faiss(index):
            return "torch"
        return ("faiss-gpu" if faiss_gpus() else "torch") if cuda else "faiss"
    if mining != "torch" and index is None:
        raise UsageError(f"--mining {mining}: needs the faiss index the scorer came from")
    if mining == "faiss-gpu" and not faiss_gpus():
        raise UsageError("--mining faiss-gpu: this faiss build sees no GPU (install faiss-gpu on a CUDA machine, "
                         "or use --mining faiss or torch)")
    return mining


class Retriever:
    """The top k of the current model (scorer and, through the queries, the encoder)."""

    def __init__(self, scorer, index=None, mining="auto", threshold=FAISS_ABOVE, device="cpu", chunk=DOC_CHUNK):
        self.scorer, self.index, self.chunk = scorer, index, chunk
        self.mode = choose_mining(mining, scorer.ntotal, device, index, threshold)
        self.gpu = None

    @torch.no_grad()
    def search(self, q, k):
        """(scores [B, k], rows [B, k]), best first; an IVF search that finds fewer than k
        documents in its lists pads with rows -1."""
        k = min(k, self.scorer.ntotal)
        if self.mode == "torch":
            return stream_topk(self.scorer, q, k, self.chunk)
        index = self.scorer.write_into(self.index)  # this step's centroids
        if self.mode == "faiss-gpu":
            import faiss
            self.gpu = self.gpu or faiss.StandardGpuResources()
            index = faiss.index_cpu_to_gpu(self.gpu, q.device.index or 0 if q.device.type == "cuda" else 0, index)
        scores, rows = index.search(q.float().cpu().numpy(), k)
        return torch.as_tensor(scores, device=q.device), torch.as_tensor(rows, device=q.device)


def text_queries(encoder, split):
    """``evaluate_dev``'s ``encode`` for a ``TextEncoder`` alone (no query head)."""
    return lambda qids: torch.as_tensor(encoder.encode([split.texts[i] for i in qids])).to(encoder.device)


@torch.no_grad()
def evaluate_dev(encode, retriever, split, docids, k=100, batch_size=256):
    """ranx's nDCG@10, MRR@10 and R@100 of ``split`` (a ``datasets.JudgedQueries``), its queries
    embedded by ``encode(qids)`` (a tensor on the retriever's device). Queries go
    ``batch_size`` at a time, so peak memory does not grow with their number."""
    from ranx import Qrels, Run, evaluate

    run = {}
    for s in range(0, len(split.qids), batch_size):
        qids = split.qids[s:s + batch_size]
        scores, rows = retriever.search(encode(qids), k)
        run.update((qid, {docids[r]: float(v) for v, r in zip(ss.tolist(), rr.tolist()) if r >= 0})
                   for qid, ss, rr in zip(qids, scores, rows))
    m = evaluate(Qrels({q: split.qrels[q] for q in split.qids}), Run(run), ["ndcg@10", "mrr@10", "recall@100"])
    return {k: round(float(v), 5) for k, v in m.items()}
