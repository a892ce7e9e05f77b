"""The query head folded into a faiss index scores exactly as in training."""
import faiss
import numpy as np
import torch

from jpq_pyserini.codebook import PQCodebook
from jpq_pyserini.indexdir import read_index_dir
from jpq_pyserini.query_head import HEAD_FILE, QueryHead, fold_head_into_dir


def _random_head(dim, seed=0):
    head = QueryHead(dim)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        head.linear.weight.add_(0.3 * torch.randn(dim, dim, generator=g))
        head.linear.bias.add_(0.1 * torch.randn(dim, generator=g))
    return head


def test_starts_at_the_identity():
    q = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)
    torch.testing.assert_close(QueryHead(8)(q), q)


def test_folded_head_ranks_as_the_head_then_the_index(pq_dir, flat_dir):
    """faiss applies the head before the OPQ rotation; the PQ codebook read back composes both."""
    for index_dir in (pq_dir, flat_dir):
        index, _, _ = read_index_dir(index_dir)
        head = _random_head(index.d)
        q = torch.nn.functional.normalize(torch.randn(4, index.d, generator=torch.Generator().manual_seed(1)), dim=-1)
        with torch.no_grad():
            mapped = head.linear(q).numpy()
        D0, I0 = index.search(mapped, 20)
        folded = faiss.deserialize_index(faiss.serialize_index(head.fold_into(faiss.clone_index(index))))
        D1, I1 = folded.search(q.numpy(), 20)
        np.testing.assert_array_equal(I0, I1)
        np.testing.assert_allclose(D0, D1, rtol=1e-5, atol=1e-5)


def test_codebook_of_a_folded_index_scores_as_faiss(pq_dir):
    index, _, _ = read_index_dir(pq_dir)
    head = _random_head(index.d, seed=2)
    folded = head.fold_into(read_index_dir(pq_dir)[0])
    q = torch.nn.functional.normalize(torch.randn(3, index.d, generator=torch.Generator().manual_seed(3)), dim=-1)
    D, I = folded.search(q.numpy(), 10)
    exact = PQCodebook.from_faiss(folded).score_pairs(q, torch.as_tensor(I)).detach().numpy()
    np.testing.assert_allclose(D, exact, rtol=1e-4, atol=1e-4)


def test_fold_head_into_dir_and_reload(pq_dir, tmp_path):
    index, docids, meta = read_index_dir(pq_dir)
    head = _random_head(index.d, seed=4)
    head.save(tmp_path / HEAD_FILE)
    torch.testing.assert_close(QueryHead.load(tmp_path / HEAD_FILE).linear.weight, head.linear.weight)
    out = tmp_path / "folded"
    out.mkdir()
    fold_head_into_dir(tmp_path / HEAD_FILE, pq_dir, out)
    folded, docids2, meta2 = read_index_dir(out)
    assert docids2 == docids and meta2["pq_m"] == meta["pq_m"] and folded.chain.size() == (2 if meta["opq"] else 1)
    q = np.random.default_rng(5).standard_normal((2, index.d)).astype("float32")
    with torch.no_grad():
        expected = index.search(head.linear(torch.as_tensor(q)).numpy(), 10)[1]
    np.testing.assert_array_equal(folded.search(q, 10)[1], expected)
