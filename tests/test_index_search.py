import faiss
import numpy as np
import pytest
import torch

from conftest import run_cli
from jpq_pyserini.codebook import PQCodebook
from jpq_pyserini.index import build_pq_index
from jpq_pyserini.indexdir import flat_vectors, read_index_dir


@pytest.mark.parametrize("opq,nbits", [(False, 8), (False, 4), (True, 4)])
def test_codebook_scores_equal_faiss(flat_dir, opq, nbits):
    index, _, _ = read_index_dir(flat_dir)
    X = flat_vectors(index)
    if opq:  # OPQ needs more vectors than dimensions: a real faiss OPQ on synthetic 64-d vectors
        X = np.random.default_rng(0).standard_normal((1200, 64)).astype("float32")
    pq = build_pq_index(X, 16, nbits, opq)
    cb = PQCodebook.from_faiss(pq)
    q = X[:7] + 0.01
    D, I = pq.search(q, 20)
    ours = cb.score_all(torch.from_numpy(q)).detach().numpy()
    np.testing.assert_allclose(np.take_along_axis(ours, I, 1), D, atol=1e-4)
    # after changing the centroids, the exported faiss index scores exactly as torch does
    with torch.no_grad():
        cb.centroids.mul_(1.3).add_(0.01)
    D2, I2 = cb.to_faiss(pq).search(q, 20)
    ours2 = cb.score_all(torch.from_numpy(q)).detach().numpy()
    np.testing.assert_allclose(np.take_along_axis(ours2, I2, 1), D2, atol=1e-4)
    assert torch.equal(PQCodebook.from_faiss(cb.to_faiss(pq)).codes, cb.codes)


def test_opq_refuses_too_few_vectors(flat_dir):
    from jpq_pyserini.errors import UsageError
    index, _, _ = read_index_dir(flat_dir)
    with pytest.raises(UsageError, match="--opq needs at least 512 training vectors here"):
        build_pq_index(flat_vectors(index), 16, 8, opq=True)


def test_pyserini_loads_pq_dir_and_matches_faiss(pq_dir):
    from pyserini.search.faiss import FaissSearcher
    from jpq_pyserini import JpqQueryEncoder

    index, docids, meta = read_index_dir(pq_dir)
    assert meta["pq_m"] == 16 and meta["bytes_per_doc"] == 16 and meta["compression_ratio"] == 96
    enc = JpqQueryEncoder("sentence-transformers/all-MiniLM-L6-v2")
    hits = FaissSearcher(str(pq_dir), enc).search("stem cells", k=10)
    D, I = index.search(enc.encode("stem cells")[None], 10)
    assert [h.docid for h in hits] == [docids[i] for i in I[0]]


def test_fast_scan_dir(flat_dir, tmp_path):
    out = tmp_path / "fs"
    run_cli("jpq_pyserini.index", "--input", str(flat_dir), "--output", str(out), "--pq-m", "96",
            "--pq-nbits", "4", "--fast-scan")
    index, _, meta = read_index_dir(out)
    assert meta["bytes_per_doc"] == 48 and meta["fast_scan"]
    assert meta["opq_fallback"] and not meta["opq"]  # 300 vectors < 385: the default falls back to PQ
    assert isinstance(faiss.downcast_index(index), faiss.IndexPQFastScan)


def test_search_cli_writes_valid_trec_and_msmarco_runs(pq_dir, tiny_beir, tmp_path):
    topics = str(tiny_beir / "test")
    for fmt in ("trec", "msmarco"):
        out = tmp_path / f"run.{fmt}"
        run_cli("jpq_pyserini.search", "--index", str(pq_dir), "--encoder", "sentence-transformers/all-MiniLM-L6-v2",
                "--topics", topics, "--output", str(out), "--output-format", fmt, "--hits", "10", "--batch-size", "8")
        lines = [l.split() for l in out.read_text().splitlines()]
        assert len(lines) == 24 * 10
        assert all(len(l) == (6 if fmt == "trec" else 3) for l in lines)
    proc = run_cli("jpq_pyserini.validate", "--run", str(tmp_path / "run.msmarco"), "--topics", topics, check=False)
    assert proc.returncode == 0, proc.stderr[-1000:]
