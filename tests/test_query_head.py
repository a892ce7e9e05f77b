"""The query head: part of the encoder dir, applied by every encoder that reads it; folded into
an index only in fold-head's copies, which JPQ's own code refuses to train or extend."""
import faiss
import numpy as np
import pytest
import torch

from jpq_pyserini.codebook import PQCodebook
from jpq_pyserini.errors import UsageError
from jpq_pyserini.indexdir import read_index_dir
from jpq_pyserini.query_head import HEAD_FILE, QueryHead, apply_numpy


def _random_head(dim, seed=0):
    head = QueryHead(dim)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        head.linear.weight.add_(0.3 * torch.randn(dim, dim, generator=g))
        head.linear.bias.add_(0.1 * torch.randn(dim, generator=g))
    return head


def test_starts_at_the_identity_and_numpy_applies_it_as_torch():
    q = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)
    torch.testing.assert_close(QueryHead(8)(q), q)
    head = _random_head(8)
    with torch.no_grad():
        np.testing.assert_allclose(apply_numpy(head.numpy(), q.numpy()), head(q).numpy(), atol=1e-6)


def test_folded_head_ranks_as_the_head_then_the_index(pq_dir, flat_dir):
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


def test_a_folded_index_is_no_codebook(pq_dir):
    """Its chain is not a rotation: reading it as a trainable codebook would train a map that
    documents never passed through."""
    folded = _random_head(read_index_dir(pq_dir)[0].d, seed=2).fold_into(read_index_dir(pq_dir)[0])
    with pytest.raises(UsageError, match="not an orthonormal rotation"):
        PQCodebook.from_faiss(folded)


def test_head_in_encoder_dir(tmp_path):
    """An encoder dir with a head returns normalize(W e + b) of the transformer's vectors; one
    whose jpq_encoder.json names a missing head, or a head of another size, is refused."""
    from jpq_pyserini.encoder import DEFAULT_ENCODER, TextEncoder

    base = TextEncoder(DEFAULT_ENCODER)
    head = _random_head(base.dim, seed=3)
    base.head = head
    base.save(tmp_path / "enc")
    texts = ["vitamin d deficiency", "stem cells"]
    base.head = None
    with torch.no_grad():
        expected = head(torch.as_tensor(base.encode(texts))).numpy()
    np.testing.assert_allclose(TextEncoder(str(tmp_path / "enc")).encode(texts), expected, atol=1e-6)
    QueryHead(8).save(tmp_path / "enc" / HEAD_FILE)
    with pytest.raises(UsageError, match="maps 8 dimensions but the model produces 384"):
        TextEncoder(str(tmp_path / "enc"))
    (tmp_path / "enc" / HEAD_FILE).unlink()
    with pytest.raises(UsageError, match="which is missing"):
        TextEncoder(str(tmp_path / "enc"))
