"""JPQ idea 1: ranking-oriented losses on the PQ scores.

All losses take per-query score tensors: ``pos`` [B, P] (relevant documents, ``pos_mask``
marks real entries), ``neg`` [B, N], and for the pairwise loss the current ranks of those
documents in the full PQ ranking (1 = top). Scores of unit-length embeddings lie in
[-1, 1], where a logistic loss hardly moves; ``temperature`` rescales them (RepCONC does
the same), chosen on the dev split.
"""
import torch
import torch.nn.functional as F


def inverse_rank(ranks, lambda_cut):
    """1/rank, and 0 beyond ``lambda_cut``: swapping two documents far down the list is worth nothing."""
    ranks = ranks.float()
    return torch.where(ranks <= lambda_cut, 1.0 / ranks, torch.zeros_like(ranks))


def pairwise_lambda_loss(pos, neg, pos_mask, pos_rank, neg_rank, lambda_cut=200, temperature=0.05):
    """The paper's loss: sum over (relevant, negative) pairs of
    |1/rank(rel) - 1/rank(neg)| * log(1 + exp((s_neg - s_rel) / T)), averaged per query."""
    diff = (neg.unsqueeze(1) - pos.unsqueeze(2)) / temperature                # [B, P, N]
    weight = (inverse_rank(pos_rank, lambda_cut).unsqueeze(2) -
              inverse_rank(neg_rank, lambda_cut).unsqueeze(1)).abs()
    weight = weight * pos_mask.unsqueeze(2)
    per_query = (weight * F.softplus(diff)).sum((1, 2)) / weight.sum((1, 2)).clamp(min=1e-12)
    return per_query


def softmax_ce_loss(pos, neg, pos_mask, temperature=0.05, **_):
    """Listwise alternative: each relevant document against all negatives, softmax cross-entropy."""
    logits = torch.cat([pos.unsqueeze(2), neg.unsqueeze(1).expand(-1, pos.shape[1], -1)], 2) / temperature
    nll = -torch.log_softmax(logits, dim=2)[:, :, 0]                           # [B, P]
    return (nll * pos_mask).sum(1) / pos_mask.sum(1).clamp(min=1)


def reconstruction_loss(reconstructed, target):
    """What plain PQ optimizes (k-means): squared error of the quantized document vectors."""
    return ((reconstructed - target) ** 2).sum(-1).mean()


RANKING_LOSSES = {"pairwise": pairwise_lambda_loss, "ce": softmax_ce_loss}
