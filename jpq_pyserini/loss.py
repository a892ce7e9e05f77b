"""JPQ idea 1: ranking-oriented losses on the PQ scores.

All losses take per-query score tensors: ``pos`` [B, P] (relevant documents, ``pos_mask``
marks real entries), ``neg`` [B, N] (retrieved documents, ``neg_mask`` marks those that are
not relevant), and for the pairwise losses the current ranks of those documents in the
full PQ ranking (1 = top). Each returns one loss per query [B]; the training loop averages
them over the batch, as the reference implementation does.

Scores of unit-length embeddings lie in [-1, 1], where a logistic loss hardly moves;
``temperature`` rescales them (RepCONC does the same). The reference JPQ has no
temperature because its STAR embeddings are unnormalised (scores in the hundreds).
"""
import torch
import torch.nn.functional as F


def inverse_rank(ranks, lambda_cut):
    """1/rank, and 0 beyond ``lambda_cut`` (0 = no cut, as in the reference): swapping two
    documents far down the list is worth nothing."""
    inv = 1.0 / ranks.float()
    return inv if lambda_cut <= 0 else torch.where(ranks <= lambda_cut, inv, torch.zeros_like(inv))


def _pairs(pos, neg, pos_mask, neg_mask, pos_rank, neg_rank, lambda_cut, temperature):
    """Per pair [B, P, N]: lambda weight |1/rank(rel) - 1/rank(neg)|, logistic loss, and
    which (relevant, non-relevant) pairs are real (relevant-relevant and padding are not)."""
    valid = pos_mask.bool().unsqueeze(2) & neg_mask.bool().unsqueeze(1)
    weight = (inverse_rank(pos_rank, lambda_cut).unsqueeze(2) - inverse_rank(neg_rank, lambda_cut).unsqueeze(1)).abs()
    logistic = F.softplus((neg.unsqueeze(1) - pos.unsqueeze(2)) / temperature)   # log(1 + exp(s_neg - s_rel))
    return weight * valid, logistic, valid


def pairwise_lambda_loss(pos, neg, pos_mask, neg_mask, pos_rank, neg_rank, lambda_cut=200, temperature=0.05):
    """The paper's loss as the reference implementation computes it: for each query, the
    mean over its (relevant, non-relevant) pairs of
    |1/rank(rel) - 1/rank(neg)| * log(1 + exp((s_neg - s_rel) / T))."""
    weight, logistic, valid = _pairs(pos, neg, pos_mask, neg_mask, pos_rank, neg_rank, lambda_cut, temperature)
    return (weight * logistic).sum((1, 2)) / valid.sum((1, 2)).clamp(min=1)


def pairwise_wnorm_loss(pos, neg, pos_mask, neg_mask, pos_rank, neg_rank, lambda_cut=200, temperature=0.05):
    """Variant: each query's loss divided by the sum of its own pair weights instead of the
    pair count, so every query counts alike however well it is already ranked."""
    weight, logistic, _ = _pairs(pos, neg, pos_mask, neg_mask, pos_rank, neg_rank, lambda_cut, temperature)
    return (weight * logistic).sum((1, 2)) / weight.sum((1, 2)).clamp(min=1e-12)


def softmax_ce_loss(pos, neg, pos_mask, neg_mask, temperature=0.05, **_):
    """Listwise alternative: each relevant document against the non-relevant retrieved ones,
    softmax cross-entropy, averaged over the query's relevant documents."""
    neg = neg.masked_fill(~neg_mask.bool(), float("-inf"))
    logits = torch.cat([pos.unsqueeze(2), neg.unsqueeze(1).expand(-1, pos.shape[1], -1)], 2) / temperature
    nll = -torch.log_softmax(logits, dim=2)[:, :, 0]                           # [B, P]
    return (nll * pos_mask).sum(1) / pos_mask.sum(1).clamp(min=1)


def listwise_distill_loss(student, teacher, mask, temperature=0.05):
    """Label-free: Distill-VQ's listwise loss, KL(softmax(teacher / T) || softmax(student / T))
    over each query's candidates [B, n] (``mask`` marks real ones), the uncompressed index's
    ranking taught to the PQ one."""
    mask = mask.bool()
    t = (teacher / temperature).masked_fill(~mask, float("-inf"))
    s = (student / temperature).masked_fill(~mask, float("-inf"))
    p = torch.softmax(t, dim=1)
    return (p * (torch.log_softmax(t, dim=1) - torch.log_softmax(s, dim=1))).masked_fill(~mask, 0.0).sum(1)


def reconstruction_loss(reconstructed, target):
    """What plain PQ optimizes (k-means): squared error of the quantized document vectors."""
    return ((reconstructed - target) ** 2).sum(-1).mean()


RANKING_LOSSES = {"pairwise": pairwise_lambda_loss, "pairwise-wnorm": pairwise_wnorm_loss, "ce": softmax_ce_loss}
