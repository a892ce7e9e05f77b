"""Retrieval for training and evaluation: every path forced on a small real index (the
faiss threshold lowered), checked against brute force and against each other."""
import faiss
import numpy as np
import pytest
import torch

from jpq_pyserini import retrieval
from jpq_pyserini.codebook import PQCodebook, read_codes
from jpq_pyserini.errors import UsageError
from jpq_pyserini.index import build_pq_index
from jpq_pyserini.indexdir import flat_vectors, read_index_dir
from jpq_pyserini.negatives import NegativeSampler


def _queries(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, 384, generator=g), dim=-1)


def _trained(pq_dir):
    """The tiny PQ index as a codebook whose centroids moved, as after some training steps."""
    index, _, _ = read_index_dir(pq_dir)
    cb = PQCodebook.from_faiss(index)
    with torch.no_grad():
        cb.centroids.add_(0.02 * torch.randn(cb.centroids.shape, generator=torch.Generator().manual_seed(1)))
    return cb, index


def _scorers(pq_dir, flat_dir):
    cb, index = _trained(pq_dir)
    flat, _, _ = read_index_dir(flat_dir)
    return [(cb, index), (retrieval.FlatScorer(flat_vectors(flat)), flat)]


def test_stream_topk_equals_brute_force(pq_dir, flat_dir):
    for scorer, _ in _scorers(pq_dir, flat_dir):
        q = _queries(5)
        full = scorer.score_all(q)
        scores, rows = retrieval.stream_topk(scorer, q, 30, chunk=37)
        torch.testing.assert_close(scores, full.topk(30).values)
        torch.testing.assert_close(torch.gather(full, 1, rows), scores)


def test_torch_and_faiss_paths_agree(pq_dir, flat_dir):
    """Same top k, same order, for the same (moved) centroids."""
    for scorer, index in _scorers(pq_dir, flat_dir):
        q = _queries(6)
        by_torch = retrieval.Retriever(scorer, index, "torch", chunk=50)
        by_faiss = retrieval.Retriever(scorer, index, "faiss")
        (ts, tr), (fs, fr) = by_torch.search(q, 40), by_faiss.search(q, 40)
        torch.testing.assert_close(fs, ts, atol=1e-5, rtol=0)
        assert torch.equal(fr, tr)


def test_sampler_ranks_equal_brute_force_on_both_paths(pq_dir):
    """Negatives ranked 1..k in retrieval order; a relevant document by its position when it
    was retrieved and k + 1 (beyond the list) when it was not; the same from both paths."""
    cb, index = _trained(pq_dir)
    q, k = _queries(4, seed=3), 25
    full = cb.score_all(q)
    order = full.argsort(dim=1, descending=True)
    # per query: one relevant document inside the top k, one far below it, and padding
    positives = torch.stack([order[:, 3], order[:, 150], torch.full((4,), -1)], 1)
    results = []
    for mining in ("torch", "faiss"):
        sampler = NegativeSampler(retrieval.Retriever(cb, index, mining), "dynamic", k=k)
        rows, mask, pos_rank, neg_rank = sampler.sample(["a", "b", "c", "d"], q, positives)
        assert torch.equal(rows, order[:, :k])
        assert torch.equal(neg_rank, torch.arange(1, k + 1).expand(4, k))
        brute = [[1 + int((full[b] > full[b, p]).sum()) if p in order[b, :k] else k + 1
                  for p in positives[b, :2].tolist()] for b in range(4)]
        assert pos_rank[:, :2].tolist() == brute == [[4, k + 1]] * 4
        assert mask.sum(1).tolist() == [k - 1] * 4 and not mask[:, 3].any()  # the relevant one is masked
        results.append((rows, mask, pos_rank, neg_rank))
    for a, b in zip(*results):
        assert torch.equal(a, b)


def test_sampler_modes(pq_dir):
    cb, index = _trained(pq_dir)
    q = _queries(3, seed=5)
    positives = torch.tensor([[0, -1], [5, 6], [7, -1]])
    retriever = retrieval.Retriever(cb, index, "torch")
    dyn, sta = NegativeSampler(retriever, "dynamic", k=20), NegativeSampler(retriever, "static", k=20)
    sta.mine(["a", "b", "c"], q)
    rows = dyn.sample(["a", "b", "c"], q, positives)[0]
    with torch.no_grad():
        cb.centroids.mul_(-1)  # reverses every ranking
    s_rows, _, _, s_rank = sta.sample(["a", "b", "c"], q, positives)
    assert torch.equal(s_rows, rows.flip(1))  # static: mined once, re-sorted by the current scores
    assert not torch.equal(dyn.sample(["a", "b", "c"], q, positives)[0], rows)   # dynamic: follows the index
    rnd = NegativeSampler(retriever, "random", k=20, seed=9)
    state = rnd.generator.get_state()
    first = rnd.sample(["a", "b", "c"], q, positives)[0]
    rnd.generator.set_state(state)  # what a resumed run restores from its checkpoint
    assert torch.equal(rnd.sample(["a", "b", "c"], q, positives)[0], first)


def test_pool_sampling_is_dynamic_within_the_mined_pool(pq_dir):
    """--negatives pool: a pool as large as the corpus samples exactly as dynamic does, after
    the model has changed too; a smaller pool gives the current top k of what it mined."""
    cb, index = _trained(pq_dir)
    q, qids = _queries(3, seed=6), ["a", "b", "c"]
    positives = torch.tensor([[0, -1], [5, 6], [7, -1]])
    retriever = retrieval.Retriever(cb, index, "torch")
    dyn = NegativeSampler(retriever, "dynamic", k=20)
    whole, small = (NegativeSampler(retriever, "pool", k=20, pool=n) for n in (cb.ntotal, 60))
    whole.mine(qids, q)
    small.mine(qids, q)
    with torch.no_grad():
        cb.centroids.add_(0.05 * torch.randn(cb.centroids.shape, generator=torch.Generator().manual_seed(0)))
    for a, b in zip(whole.sample(qids, q, positives), dyn.sample(qids, q, positives)):
        assert torch.equal(a, b)
    rows = small.sample(qids, q, positives)[0]
    for i, qid in enumerate(qids):
        pool = small.mined[qid].long()
        scores = cb.score_pairs(q[i:i + 1], pool[None])[0]
        assert set(rows[i].tolist()) == set(pool[scores.argsort(descending=True)[:20]].tolist())


def test_relevant_documents_are_never_negatives_even_when_one_positive_is_paired(pq_dir):
    cb, index = _trained(pq_dir)
    q = _queries(2, seed=7)
    top = cb.score_all(q).topk(5).indices
    sampler = NegativeSampler(retrieval.Retriever(cb, index, "torch"), "dynamic", k=10)
    rows, mask, pos_rank, _ = sampler.sample(["a", "b"], q, top[:, :1], relevant=top[:, :3])
    assert not mask[:, :3].any() and mask[:, 3:].all() and pos_rank[:, 0].tolist() == [1, 1]


def test_dev_evaluation_memory_does_not_grow_with_queries(pq_dir, tiny_beir):
    """The largest score buffer dev evaluation makes is batch x chunk, whatever the number of queries."""
    from jpq_pyserini.datasets import judged_queries
    from jpq_pyserini.encoder import TextEncoder

    cb, index = _trained(pq_dir)
    _, docids, _ = read_index_dir(pq_dir)
    largest = []

    class Recording(PQCodebook):
        def score_range(self, q, start, end):
            out = super().score_range(q, start, end)
            largest.append(out.numel())
            return out

    scorer = Recording(cb.centroids.detach(), cb.codes, cb.rotation)
    split = judged_queries(str(tiny_beir / "train"), {d: i for i, d in enumerate(docids)}, "--dev")
    encoder = TextEncoder("sentence-transformers/all-MiniLM-L6-v2")
    peaks = []
    for n in (4, len(split.qids)):
        part = type(split)(**{**vars(split), "qids": split.qids[:n]})
        largest.clear()
        retrieval.evaluate_dev(retrieval.text_queries(encoder, part), retrieval.Retriever(scorer, index, "torch", chunk=64),
                               part, docids, batch_size=4)
        peaks.append(max(largest))
    assert len(split.qids) >= 20 and peaks == [4 * 64, 4 * 64]


def test_auto_takes_faiss_for_lists_and_fast_scan_above_the_threshold(pq_dir, flat_dir):
    cb, index = _trained(pq_dir)
    assert retrieval.Retriever(cb, index, "auto", threshold=10).mode == "torch"  # dense PQ: torch scans faster
    X = flat_vectors(read_index_dir(flat_dir)[0])
    for kind in (build_pq_index(X, 16, 4, opq=False, fast_scan=True), build_pq_index(X, 16, 8, opq=False, ivf=4)):
        scorer = PQCodebook.from_faiss(kind)
        assert retrieval.Retriever(scorer, kind, "auto", threshold=10).mode == "faiss"
        assert retrieval.Retriever(scorer, kind, "auto").mode == "torch"  # below a million documents


def test_mining_refuses_what_it_cannot_serve(pq_dir):
    cb, index = _trained(pq_dir)
    if retrieval.faiss_gpus():  # a GPU machine with faiss-gpu: it serves
        assert retrieval.Retriever(cb, index, "faiss-gpu").mode == "faiss-gpu"
    else:
        with pytest.raises(UsageError, match="--mining faiss-gpu: this faiss build sees no GPU"):
            retrieval.Retriever(cb, index, "faiss-gpu")
    with pytest.raises(UsageError, match="--mining faiss: needs the faiss index"):
        retrieval.Retriever(cb, None, "faiss")


@pytest.mark.parametrize("nbits,fast_scan", [(8, False), (4, False), (4, True)])
def test_codes_read_in_chunks_equal_the_encoded_ones(flat_dir, nbits, fast_scan):
    """Codes come from the index's storage (fast-scan's SIMD blocks unpacked), chunk by chunk,
    and equal what faiss's PQ assigns to each vector."""
    X = flat_vectors(read_index_dir(flat_dir)[0])
    index = build_pq_index(X, 16, nbits, opq=False)
    if fast_scan:
        index = faiss.IndexPQFastScan(index)
    expected = index.pq.compute_codes(X)
    expected = np.stack([expected & 15, expected >> 4], -1).reshape(len(X), -1) if nbits == 4 else expected
    codes = read_codes(index, chunk=70)  # not a multiple of fast-scan's 32-document blocks
    assert codes.dtype == np.uint8 and np.array_equal(codes, expected)


@pytest.mark.parametrize("opq,nbits,fast_scan", [(False, 8, False), (True, 4, True)])
def test_ivf_codebook_scores_equal_faiss_and_codes_are_exact(opq, nbits, fast_scan):
    """An IVF index whose lists share one codebook: the codebook's exact scores are faiss's
    scores for every document it returns (any list), before and after the centroids move, and
    the codes read list by list equal the flat PQ encoding."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1500, 64)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    index = build_pq_index(X, 16, nbits, opq, fast_scan, ivf=12, nprobe=12)
    ivf = faiss.downcast_index(faiss.extract_index_ivf(index))
    assert not ivf.by_residual and ivf.nprobe == 12
    cb = PQCodebook.from_faiss(index)
    rotated = X @ cb.rotation.numpy().T if opq else X
    expected = ivf.pq.compute_codes(np.ascontiguousarray(rotated))
    if nbits == 4:
        expected = np.stack([expected & 15, expected >> 4], -1).reshape(len(X), -1)
    assert np.array_equal(cb.codes.numpy(), expected)
    q = X[:5] + 0.05
    for _ in range(2):
        D, I = index.search(q, 30)
        exact = cb.score_pairs(torch.from_numpy(q), torch.from_numpy(I)).detach().numpy()
        np.testing.assert_allclose(D, exact, atol=1e-4 if not fast_scan else 0.05)
        with torch.no_grad():
            cb.centroids.mul_(1.3).add_(0.01)
        index = cb.to_faiss(index)
    # all lists probed: faiss's IVF search finds the exhaustive top 30 (fast-scan: up to its LUT rounding)
    by_torch = retrieval.Retriever(cb, index, "torch").search(torch.from_numpy(q), 30)[1]
    by_faiss = retrieval.Retriever(cb, index, "faiss").search(torch.from_numpy(q), 30)[1]
    overlap = np.mean([len(set(a) & set(b)) / 30 for a, b in zip(by_torch.tolist(), by_faiss.tolist())])
    assert overlap == 1.0 if not fast_scan else overlap > 0.9


def test_a_residual_ivf_index_is_refused():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 32)).astype(np.float32)
    index = faiss.index_factory(32, "IVF8,PQ8", faiss.METRIC_INNER_PRODUCT)
    index.train(X)
    with pytest.raises(UsageError, match="encodes residuals"):
        PQCodebook.from_faiss(index)


def test_ivf_mining_with_short_lists_never_pairs_padding(flat_dir):
    """One list of eight probed, k beyond its size: faiss pads with -1; those are never
    negatives, and dev evaluation skips them."""
    X = flat_vectors(read_index_dir(flat_dir)[0])
    index = build_pq_index(X, 16, 8, opq=False, ivf=8, nprobe=1)
    cb = PQCodebook.from_faiss(index)
    retriever = retrieval.Retriever(cb, index, "faiss")
    q = torch.from_numpy(X[:4] + 0.01)
    raw = retriever.search(q, 150)[1]
    assert (raw < 0).any()
    for mode in ("dynamic", "static"):
        sampler = NegativeSampler(retriever, mode, k=150)
        sampler.mine(list("abcd"), q)
        rows, mask, pos_rank, neg_rank = sampler.sample(list("abcd"), q, torch.tensor([[1], [2], [3], [4]]))
        listed = (raw >= 0).sum(1) - (raw == torch.tensor([[1], [2], [3], [4]])).sum(1)
        assert (rows >= 0).all() and torch.equal(mask.sum(1), listed)
