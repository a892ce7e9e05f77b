"""JPQ idea 3: end-to-end negative sampling from the current PQ index.

Each step retrieves the top ``k`` documents for the current queries with the *current*
query encoder and centroids, and returns them (relevant ones removed) with the ranks of
every scored document, which the pairwise loss weights by.

Retrieval is exact ADC in torch (``scorer.score_all``): for corpora up to ~1M documents
scoring all codes on the training device is a few gathers per step and needs no copy of
the centroids into faiss. Beyond ``FAISS_ABOVE`` documents, the current centroids are
copied into the faiss index each step and faiss's optimized ADC search does the retrieval
(ranks beyond k then count as beyond the cut).

``static`` mines once with the initial encoder and centroids (the ANCE/STAR style), and
``random`` samples uniformly: both are ablations of this idea.
"""
import torch

FAISS_ABOVE = 1_000_000


class NegativeSampler:
    def __init__(self, scorer, mode="dynamic", k=200, faiss_index=None, seed=0):
        if mode not in ("dynamic", "static", "random"):
            raise ValueError(mode)
        self.scorer, self.mode, self.k = scorer, mode, k
        self.faiss_index = faiss_index if scorer.ntotal > FAISS_ABOVE else None
        self.static = {}
        self.generator = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def _retrieve(self, q):
        """(top-k rows [B, k], full scores [B, N] or None)."""
        if self.faiss_index is not None:
            from .codebook import split_index
            import faiss
            _, pq_index = split_index(self.faiss_index)
            faiss.copy_array_to_vector(self.scorer.centroids.detach().cpu().numpy().ravel(), pq_index.pq.centroids)
            _, rows = self.faiss_index.search(q.float().cpu().numpy(), self.k)
            return torch.as_tensor(rows, device=q.device), None
        scores = self.scorer.score_all(q)
        return scores.topk(min(self.k, scores.shape[1]), dim=1).indices, scores

    @torch.no_grad()
    def mine(self, qids, q, batch_size=256):
        """``static`` mode: fix every query's negatives once, with the model as it is now."""
        for s in range(0, len(qids), batch_size):
            rows, _ = self._retrieve(q[s:s + batch_size])
            self.static.update((qid, r.cpu()) for qid, r in zip(qids[s:s + batch_size], rows))

    @torch.no_grad()
    def sample(self, qids, q, positives):
        """Negative rows [B, k], a mask of those that are not relevant, and the current ranks
        (1 = best) of the positives [B, P] and negatives [B, k].

        ``positives`` is a padded [B, P] tensor of rows with -1 for padding. Relevant rows
        retrieved among the top k are masked rather than removed, to keep tensors rectangular.
        """
        scores = None
        if self.mode == "random":
            rows = torch.randint(self.scorer.ntotal, (q.shape[0], self.k), generator=self.generator).to(q.device)
        elif self.mode == "static":
            rows = torch.stack([self.static[qid] for qid in qids]).to(q.device)
        else:
            rows, scores = self._retrieve(q)
        neg_mask = ~(rows.unsqueeze(2) == positives.unsqueeze(1)).any(2)
        cand = torch.cat([positives.clamp(min=0), rows], 1)
        if self.faiss_index is None:
            scores = self.scorer.score_all(q) if scores is None else scores
            ascending = scores.sort(dim=1).values
            cand_scores = torch.gather(scores, 1, cand)
            ranks = scores.shape[1] - torch.searchsorted(ascending, cand_scores, right=True) + 1
        else:  # no full ranking: rank the candidates among themselves
            cand_scores = self.scorer.score_pairs(q, cand)
            ranks = (cand_scores.unsqueeze(1) > cand_scores.unsqueeze(2)).sum(2) + 1
        P = positives.shape[1]
        return rows, neg_mask, ranks[:, :P], ranks[:, P:]
