"""JPQ idea 3: end-to-end negative sampling from the current PQ index.

Each step retrieves the top ``k`` documents for the current queries with the *current*
query encoder and centroids, and returns them (relevant ones masked) with the rank of
every scored document in the full current ranking, which the pairwise loss weights by.

Retrieval is exact ADC in torch through ``retrieval.search`` (streaming over document
chunks, on the training device). Beyond ``FAISS_ABOVE`` documents the current centroids
are copied into the faiss index each step and faiss's optimized ADC search retrieves
instead (ranks beyond k then count as beyond the cut).

``static`` mines once with the initial encoder and centroids (the ANCE/STAR style), and
``random`` samples uniformly: both are ablations of this idea.
"""
import torch

from . import retrieval

FAISS_ABOVE = 1_000_000


class NegativeSampler:
    def __init__(self, scorer, mode="dynamic", k=200, faiss_index=None, seed=0):
        if mode not in ("dynamic", "static", "random"):
            raise ValueError(mode)
        self.scorer, self.mode, self.k = scorer, mode, k
        use_faiss = scorer.ntotal > FAISS_ABOVE and scorer.centroids is not None
        self.faiss_index = faiss_index if use_faiss else None
        self.static = {}
        self.generator = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def _retrieve(self, q):
        """Top-k rows [B, k], best first, from the current model."""
        if self.faiss_index is not None:
            _, rows = self.scorer.write_into(self.faiss_index).search(q.float().cpu().numpy(), self.k)
            return torch.as_tensor(rows, device=q.device)
        return retrieval.search(self.scorer, q, self.k)[1]

    @torch.no_grad()
    def mine(self, qids, q, batch_size=256):
        """``static`` mode: fix every query's negatives once, with the model as it is now."""
        for s in range(0, len(qids), batch_size):
            rows = self._retrieve(q[s:s + batch_size])
            self.static.update((qid, r.cpu()) for qid, r in zip(qids[s:s + batch_size], rows))

    @torch.no_grad()
    def sample(self, qids, q, positives):
        """Negative rows [B, k], a mask of those that are not relevant, and the current ranks
        (1 = best) of the positives [B, P] and negatives [B, k].

        ``positives`` is a padded [B, P] tensor of rows with -1 for padding. Relevant rows
        retrieved among the top k are masked rather than removed, to keep tensors rectangular.
        """
        if self.mode == "random":
            rows = torch.randint(self.scorer.ntotal, (q.shape[0], self.k), generator=self.generator).to(q.device)
        elif self.mode == "static":
            rows = torch.stack([self.static[qid] for qid in qids]).to(q.device)
        else:
            rows = self._retrieve(q)
        neg_mask = ~(rows.unsqueeze(2) == positives.unsqueeze(1)).any(2)
        cand = torch.cat([positives.clamp(min=0), rows], 1)
        if self.faiss_index is None:
            cand_ranks = retrieval.ranks(self.scorer, q, cand)
        else:  # no full ranking: rank the candidates among themselves
            cand_scores = self.scorer.score_pairs(q, cand)
            cand_ranks = (cand_scores.unsqueeze(1) > cand_scores.unsqueeze(2)).sum(2) + 1
        P = positives.shape[1]
        return rows, neg_mask, cand_ranks[:, :P], cand_ranks[:, P:]
