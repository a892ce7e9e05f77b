"""JPQ idea 3: end-to-end negative sampling from the current PQ index.

Each step retrieves the top ``k`` documents for the current queries with the *current*
query encoder and centroids (``retrieval.Retriever``: streamed torch ADC, or faiss with the
current centroids copied in) and returns them, relevant ones masked, with the ranks the
pairwise loss weights by. Ranks are those of the reference implementation (jingtaozhan/JPQ's
``compute_loss``), computed from the retrieved list alone, so no step scores the corpus twice:
  - a retrieved document's rank is its position in the list, 1..k (relevant ones keep their
    places, so the negative after a relevant document at 1 ranks 2);
  - a relevant document's rank is its position if it was retrieved, else one plus the number
    of retrieved documents that score at least as high: k + 1 under exact search, so a
    relevant document that was not retrieved ranks beyond k and ``--lambda-cut k`` drops it.

``static`` mines once with the initial encoder and centroids (the ANCE/STAR style), and
``random`` samples uniformly: both are ablations of this idea. Their lists are re-sorted by
the current scores each step, so ranks mean the same in every mode.

``pool`` is this idea made cheap for large corpora: it mines each query's top ``pool``
(20,000 by default) once, like ``static``, then every step re-scores that pool with the current
encoder and centroids and takes its top ``k``. A step then costs ``pool`` lookups per query
instead of a pass over the corpus; it is dynamic as long as the current top ``k`` stays
inside the initial top ``pool`` (benchmarks/scale.py measures what it costs in nDCG@10).
"""
import torch

SCORE_TOLERANCE = 1e-5  # torch and faiss sum a document's sub-scores in different orders


def list_ranks(scores, rows, positives, pos_scores):
    """Ranks (1 = best) of the positives [B, P] and of the listed documents [B, k], from a list
    ``rows`` [B, k] sorted by ``scores`` (padding positives, -1, get a finite rank the loss masks)."""
    B, k = rows.shape
    list_rank = torch.arange(1, k + 1, device=rows.device).expand(B, k)
    hit = positives.unsqueeze(2) == rows.unsqueeze(1)                         # [B, P, k]
    found, position = hit.any(2), hit.float().argmax(2) + 1
    floor = pos_scores - SCORE_TOLERANCE * pos_scores.abs().clamp(min=1)
    above = (scores.unsqueeze(1) >= floor.unsqueeze(2)).sum(2) + 1
    pos_rank = torch.where(found, position, above)
    return pos_rank, list_rank


class NegativeSampler:
    def __init__(self, retriever, mode="dynamic", k=200, seed=0, pool=0):
        if mode not in ("dynamic", "static", "random", "pool"):
            raise ValueError(mode)
        self.retriever, self.scorer, self.mode, self.k = retriever, retriever.scorer, mode, k
        self.mined_k = max(pool, k) if mode == "pool" else k
        self.mined = {}
        self.generator = torch.Generator().manual_seed(seed)  # checkpointed: a resumed run draws the same

    @torch.no_grad()
    def mine(self, qids, q, batch_size=256):
        """``static`` and ``pool`` modes: fix every query's list once, with the model as it is
        now (int32 rows: a pool of 20,000 costs 80 KB per query)."""
        for s in range(0, len(qids), batch_size):
            rows = self.retriever.search(q[s:s + batch_size], self.mined_k)[1]
            self.mined.update((qid, r.to(torch.int32).cpu()) for qid, r in zip(qids[s:s + batch_size], rows))

    @torch.no_grad()
    def sample(self, qids, q, positives, relevant=None):
        """Negative rows [B, k], a mask of those that are not relevant, and the ranks of the
        positives [B, P] and of the negatives [B, k].

        ``positives`` is a padded [B, P] tensor of the rows the loss pairs (-1 for padding);
        ``relevant`` (default: the positives) all relevant rows, which are never negatives.
        Relevant rows in the list are masked rather than removed, to keep tensors rectangular.
        """
        relevant = positives if relevant is None else relevant
        if self.mode == "dynamic":
            scores, rows = self.retriever.search(q, self.k)
        else:
            if self.mode == "random":
                rows = torch.randint(self.scorer.ntotal, (q.shape[0], self.k), generator=self.generator)
            else:
                rows = torch.stack([self.mined[qid] for qid in qids]).long()
            rows = rows.to(q.device)
            scores = self.scorer.score_pairs(q, rows.clamp(min=0)).masked_fill(rows < 0, float("-inf"))
            scores, order = scores.sort(dim=1, descending=True)
            scores, rows = scores[:, :self.k], torch.gather(rows, 1, order[:, :self.k])
        listed = rows >= 0  # an IVF search pads a short list with -1 (scored -inf, so last)
        neg_mask = ~(rows.unsqueeze(2) == relevant.unsqueeze(1)).any(2) & listed
        pos_scores = self.scorer.score_pairs(q, positives.clamp(min=0))
        pos_rank, neg_rank = list_ranks(scores.to(q.device), rows, positives, pos_scores)
        rows = rows.clamp(min=0)  # masked above; any row will do for the loss's scoring
        return rows, neg_mask, pos_rank, neg_rank
