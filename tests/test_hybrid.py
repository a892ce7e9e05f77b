"""The hybrid verb: Pyserini's own hybrid command over a real PQ index and a real Lucene index."""
from ranx import Qrels, Run, evaluate

from conftest import run_cli
from jpq_pyserini import fusion
from jpq_pyserini.bm25 import lucene_index
from jpq_pyserini.datasets import iter_queries, load_dataset, load_qrels
from jpq_pyserini.encoder import DEFAULT_ENCODER
from jpq_pyserini.runs import read_run


def _searcher(pq_dir, tiny_beir):
    from jpq_pyserini.encoder import embedded_model_path
    return fusion.searcher(pq_dir, embedded_model_path(DEFAULT_ENCODER), lucene_index(str(tiny_beir)))


def test_hybrid_cli_is_pyserinis_fusion(pq_dir, tiny_beir, tmp_path):
    out = tmp_path / "hybrid.trec"
    run_cli("jpq_pyserini.hybrid", "dense", "--index", str(pq_dir), "--encoder", DEFAULT_ENCODER,
            "sparse", "--index", str(tiny_beir), "fusion", "--alpha", "0.4", "--normalization", "--hits", "50",
            "run", "--topics", f"{tiny_beir}/test", "--output", str(out), "--hits", "20")
    run, ranked_ids = read_run(out), {}
    for line in out.read_text().splitlines():
        ranked_ids.setdefault(line.split()[0], []).append(line.split()[2])
    queries = iter_queries(load_dataset(f"{tiny_beir}/test"), "test")
    assert set(run) == {q for q, _ in queries}
    expected = fusion.SideHits.search(_searcher(pq_dir, tiny_beir), queries, 50).fuse(0.4, 20)
    for qid, ranked in expected.items():
        assert ranked_ids[qid] == [h.docid for h in ranked]
    qrels = Qrels(load_qrels(load_dataset(f"{tiny_beir}/test")))
    dense = fusion.SideHits.search(_searcher(pq_dir, tiny_beir), queries, 50)
    dense_only = Run({q: {h.docid: float(h.score) for h in hits} for q, hits in dense.dense.items()})
    assert evaluate(qrels, Run(run), "ndcg@10") > 0 and evaluate(qrels, dense_only, "ndcg@10") > 0


def test_alpha_is_the_dev_grids_best(pq_dir, tiny_beir):
    queries = iter_queries(load_dataset(f"{tiny_beir}/train"), "train")
    qrels = load_qrels(load_dataset(f"{tiny_beir}/train"))
    hits = fusion.SideHits.search(_searcher(pq_dir, tiny_beir), queries, 100)
    alpha, grid = fusion.choose_alpha(hits, qrels, 100, alphas=(0.1, 0.5, 1.0, 2.0))
    assert set(grid) == {0.1, 0.5, 1.0, 2.0} and grid[alpha] == max(grid.values())
    run = Run({q: {h.docid: float(h.score) for h in r} for q, r in hits.fuse(alpha, 100).items()})
    assert abs(evaluate(Qrels(qrels), run, "ndcg@10", make_comparable=True) - grid[alpha]) < 1e-9


def test_hybrid_bad_input_is_one_line(pq_dir, tiny_beir, tmp_path):
    out = tmp_path / "run.trec"
    proc = run_cli("jpq_pyserini.hybrid", "dense", "--index", str(pq_dir), "run", "--topics", f"{tiny_beir}/test",
                   "--output", str(out), check=False)
    assert proc.returncode == 2 and "missing sub-command: sparse" in proc.stderr and not out.exists()
    proc = run_cli("jpq_pyserini.hybrid", "dense", "--index", str(pq_dir), "--encoder", DEFAULT_ENCODER,
                   "sparse", "--index", str(tmp_path), "run", "--topics", f"{tiny_beir}/test",
                   "--output", str(out), check=False)
    assert proc.returncode == 2 and "sparse --index" in proc.stderr and not out.exists()
    assert len(proc.stderr.strip().splitlines()) == 1


def test_fusion_is_pyserinis_and_survives_a_side_with_one_score():
    from pyserini.search.faiss import DenseSearchResult
    from pyserini.search.hybrid import HybridSearcher

    dense = [DenseSearchResult(d, s) for d, s in (("a", 0.9), ("b", 0.7), ("c", 0.2))]
    sparse = [DenseSearchResult(d, s) for d, s in (("b", 12.0), ("d", 8.0), ("a", 3.0))]
    for normalization in (False, True):
        ours = fusion.hybrid_results(dense, sparse, 0.3, 10, normalization)
        theirs = HybridSearcher._hybrid_results(dense, sparse, 0.3, 10, normalization)
        assert [(h.docid, h.score) for h in ours] == [(h.docid, h.score) for h in theirs]
    one = fusion.hybrid_results(dense, sparse[:1], 0.3, 10, True)  # Pyserini divides by zero here
    assert [h.docid for h in one][:1] == ["a"] and len(one) == 3
