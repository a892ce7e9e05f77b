import ir_datasets
import pytest

from jpq_pyserini.datasets import load_dataset, load_qrels
from jpq_pyserini.errors import UsageError


def test_shipped_scifact_counts():
    assert ir_datasets.load("jpq-pyserini/scifact").docs_store().count() == 5183
    counts = {}
    for split in ("train", "test", "train/dev", "train/fit"):
        ds = ir_datasets.load(f"jpq-pyserini/scifact/{split}")
        counts[split] = (len(list(ds.queries_iter())), len(list(ds.qrels_iter())))
    assert counts["train"] == (809, 919)
    assert counts["test"] == (300, 339)
    dev = {q.query_id for q in ir_datasets.load("jpq-pyserini/scifact/train/dev").queries_iter()}
    fit = {q.query_id for q in ir_datasets.load("jpq-pyserini/scifact/train/fit").queries_iter()}
    train = {q.query_id for q in ir_datasets.load("jpq-pyserini/scifact/train").queries_iter()}
    assert not dev & fit and dev | fit == train
    assert len(dev) == 81  # a fixed, seeded 10% carve
    assert counts["train/dev"][1] + counts["train/fit"][1] == 919


def test_docs_store_lookup_and_no_gold_evidence_in_queries():
    ds = ir_datasets.load("jpq-pyserini/scifact")
    doc = ds.docs_store().get("4983")
    assert doc.title.startswith("Microstructural development of human newborn")
    q = next(iter(ir_datasets.load("jpq-pyserini/scifact/test").queries_iter()))
    assert q._fields == ("query_id", "text")  # the metadata field (gold evidence) never reaches a model


def test_local_beir_folder(tiny_beir):
    ds = load_dataset(str(tiny_beir / "test"))
    qrels = load_qrels(ds)
    assert len(qrels) == 24
    assert {q.query_id for q in ds.queries_iter()} == set(qrels)
    assert ds.docs_store().get(next(iter(next(iter(qrels.values()))))).text


def test_local_tsv_folder(tmp_path):
    (tmp_path / "docs.tsv").write_text("d1\tthe cat sat\nd2\ta dog ran\n")
    (tmp_path / "queries.tsv").write_text("q1\tcat\n")
    (tmp_path / "qrels.txt").write_text("q1 0 d1 1\n")
    ds = load_dataset(str(tmp_path))
    assert [d.doc_id for d in ds.docs_iter()] == ["d1", "d2"]
    assert load_qrels(ds) == {"q1": {"d1": 1}}


def test_unknown_dataset_is_one_clear_error():
    with pytest.raises(UsageError, match="no-such/dataset: unknown dataset"):
        load_dataset("no-such/dataset")
