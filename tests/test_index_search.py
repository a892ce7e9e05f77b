import contextlib
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


@pytest.mark.parametrize("extra", [["--batch-size", "8", "--output-format", "trec"],
                                   ["--output-format", "msmarco"], ["--batch-size", "5", "--remove-query"]])
def test_fast_result_path_writes_pyserini_bytes(pq_dir, tiny_beir, tmp_path, extra):
    """The plugin's array-based result path and bulk writer give the run file Pyserini's own
    path gives, byte for byte: all 300 documents (k beyond the corpus), one query at a time or
    in batches, and with Pyserini's own hit filter on."""
    import os
    import subprocess
    import sys
    runs = {}
    for fast in ("1", "0"):
        out = tmp_path / f"run{fast}"
        proc = subprocess.run([sys.executable, "-m", "jpq_pyserini.search", "--index", str(pq_dir), "--encoder",
                               "sentence-transformers/all-MiniLM-L6-v2", "--topics", str(tiny_beir / "test"),
                               "--output", str(out), "--hits", "1000", *extra], capture_output=True, text=True,
                              env={**os.environ, "JPQ_PYSERINI_FAST_RESULTS": fast, "TQDM_DISABLE": "1"})
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs[fast] = out.read_bytes()
    assert runs["1"] == runs["0"] and runs["1"].count(b"\n") >= 24 * 290


def test_fast_results_skip_padding_rows_like_pyserini(flat_dir, tmp_path):
    """An IVF index probing one list returns fewer than k hits (faiss pads with -1): the array
    path writes exactly Pyserini's lines, and is the path taken."""
    from pyserini.output_writer import OutputFormat, get_output_writer
    from pyserini.search.faiss import FaissSearcher
    from jpq_pyserini.fast_results import Hits, fast_results
    from jpq_pyserini.index import index_flat_dir

    index_flat_dir(flat_dir, tmp_path / "ivf", 16, opq=False, ivf=8, nprobe=1)
    q = flat_vectors(read_index_dir(flat_dir)[0])[:6] + 0.01
    searcher = FaissSearcher(str(tmp_path / "ivf"), None)
    texts = {}
    for fast in (False, True):
        with contextlib.ExitStack() as stack:
            if fast:
                stack.enter_context(fast_results())
            for fmt in (OutputFormat.TREC, OutputFormat.MSMARCO):
                path = tmp_path / f"{fast}.{fmt.value}"
                with get_output_writer(str(path), fmt, "w", max_hits=100, tag="Faiss") as writer:
                    results = searcher.batch_search(q, [f"q{i}" for i in range(6)], k=100)
                    assert isinstance(results["q0"], Hits) == fast
                    for qid, hits in results.items():
                        writer.write(qid, hits)
                texts[fast, fmt] = path.read_text()
    for fmt in (OutputFormat.TREC, OutputFormat.MSMARCO):
        assert texts[True, fmt] == texts[False, fmt]
        assert 6 < texts[True, fmt].count("\n") < 6 * 100  # one list of eight: fewer than k hits


@pytest.mark.parametrize("ivf", [0, 8])
def test_opq_index_is_the_same_at_every_thread_count(flat_dir, ivf):
    """OPQ's SVDs and products round differently on each thread count; the index must not."""
    index, _, _ = read_index_dir(flat_dir)
    X = flat_vectors(index)
    X = np.concatenate([X, X + np.random.default_rng(0).normal(0, 0.01, X.shape).astype("float32")])  # >= 385 for OPQ
    built = []
    for threads in (1, 2):
        faiss.omp_set_num_threads(threads)
        built.append(faiss.serialize_index(build_pq_index(X, 16, 4, opq=True, ivf=ivf)).tobytes())
    assert built[0] == built[1]


def test_index_threads_do_not_outlive_the_build(flat_dir, tmp_path):
    """`index --threads 1` inside a longer process (reproduce) leaves torch's threads as they
    were: torch and faiss share one OpenMP runtime."""
    import torch
    from jpq_pyserini.index import index_flat_dir, index_with_codebook

    before = torch.get_num_threads()
    index_flat_dir(flat_dir, tmp_path / "pq", 16, nbits=4, opq=False, threads=1)
    assert (torch.get_num_threads(), faiss.omp_get_max_threads()) == (before, before)
    index_with_codebook(flat_dir, tmp_path / "again", tmp_path / "pq", threads=1)
    assert (torch.get_num_threads(), faiss.omp_get_max_threads()) == (before, before)
