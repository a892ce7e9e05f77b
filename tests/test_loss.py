"""The paper's pairwise loss against a plain-Python transcription of the reference formula."""
import math
import random

import torch

from jpq_pyserini.loss import pairwise_lambda_loss, softmax_ce_loss


def reference_query_loss(pos_scores, neg_scores, pos_ranks, neg_ranks, lambda_cut, temperature):
    """One query, as jingtaozhan/JPQ's compute_loss: mean over (relevant, non-relevant) pairs
    of |w(rel) - w(neg)| * log(1 + exp((s_neg - s_rel) / T)), w(r) = 1/r (0 beyond the cut)."""
    def w(r):
        return 1.0 / r if lambda_cut <= 0 or r <= lambda_cut else 0.0
    terms = [abs(w(rp) - w(rn)) * math.log(1 + math.exp((sn - sp) / temperature))
             for sp, rp in zip(pos_scores, pos_ranks) for sn, rn in zip(neg_scores, neg_ranks)]
    return sum(terms) / len(terms)


def _batch(seed):
    """A padded batch with masked relevant "negatives" and padded positives, plus the
    same queries as plain lists (padding and relevant retrieved documents dropped)."""
    rnd = random.Random(seed)
    B, P, N = 3, 4, 7
    pos = torch.rand(B, P) * 2 - 1
    neg = torch.rand(B, N) * 2 - 1
    pos_rank = torch.randint(1, 30, (B, P))
    neg_rank = torch.arange(1, N + 1).repeat(B, 1)
    pos_mask = torch.zeros(B, P)
    neg_mask = torch.ones(B, N, dtype=torch.bool)
    plain = []
    for b in range(B):
        n_pos = rnd.randint(1, P)
        pos_mask[b, :n_pos] = 1
        neg_mask[b, rnd.sample(range(N), 2)] = False
        keep = neg_mask[b].tolist()
        plain.append(([float(pos[b, i]) for i in range(n_pos)], [float(s) for s, k in zip(neg[b], keep) if k],
                      [int(pos_rank[b, i]) for i in range(n_pos)], [int(r) for r, k in zip(neg_rank[b], keep) if k]))
    return (pos, neg, pos_mask, neg_mask, pos_rank, neg_rank), plain


def test_pairwise_equals_reference_formula():
    for seed, cut, temp in [(0, 200, 0.05), (1, 5, 0.1), (2, 0, 1.0), (3, 3, 0.05)]:
        args, plain = _batch(seed)
        ours = pairwise_lambda_loss(*args, lambda_cut=cut, temperature=temp)
        ref = [reference_query_loss(*q, lambda_cut=cut, temperature=temp) for q in plain]
        torch.testing.assert_close(ours, torch.tensor(ref), rtol=1e-5, atol=1e-6)


def test_lambda_cut_zero_means_no_cut():
    args, _ = _batch(4)
    far = list(args)
    far[4] = args[4] + 1000            # every relevant document ranked beyond any cut
    assert pairwise_lambda_loss(*far, lambda_cut=0).gt(0).all()
    assert not torch.equal(pairwise_lambda_loss(*far, lambda_cut=0), pairwise_lambda_loss(*far, lambda_cut=200))


def test_loss_falls_over_steps_on_a_fixed_batch():
    """Gradient steps on the scores themselves lower each loss step after step."""
    args, _ = _batch(5)
    for loss_fn in (pairwise_lambda_loss, softmax_ce_loss):
        pos = args[0].clone().requires_grad_(True)
        opt = torch.optim.SGD([pos], lr=0.05)
        values = []
        for _ in range(20):
            loss = loss_fn(pos, *args[1:4], pos_rank=args[4], neg_rank=args[5]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            values.append(loss.item())
        assert all(b < a for a, b in zip(values, values[1:])), values
        assert values[-1] < 0.5 * values[0]
