"""The reproduction machinery on a tiny real slice: recipes, caching, tables, plot, tolerances."""
import json

import pytest
import yaml

from conftest import run_cli
from jpq_pyserini.errors import UsageError
from jpq_pyserini.reproduce import load_spec


def _write_spec(root, tiny_beir, expected):
    for d in ("eval", "indexes", "encoders"):
        (root / d).mkdir(exist_ok=True)
    (root / "encoders" / "mini.yaml").write_text(yaml.safe_dump({
        "model": "sentence-transformers/all-MiniLM-L6-v2", "doc_max_length": 64, "query_max_length": 32,
        "train": {"lr": 5e-5, "batch_size": 8, "epochs": 1, "neg_topk": 50, "centroid_lr": 1e-3}}))
    (root / "indexes" / "tiny.yaml").write_text(yaml.safe_dump({"corpus": str(tiny_beir), "encoder": "mini", "pq_nbits": 8}))
    spec = {"name": "tiny", "index": "tiny", "train": str(tiny_beir / "train"), "dev": str(tiny_beir / "test"),
            "topics": str(tiny_beir / "test"), "qrels": str(tiny_beir / "test"), "metrics": ["ndcg@10", "recall@100"],
            "hits": 100, "pq_m": [16], "main_m": 16, "methods": ["pq"], "ablations": ["no-centroid-training"],
            "label_free": ["queries"], "expected": expected}
    path = root / "eval" / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_reproduce_tiny_spec_end_to_end(tiny_beir, tmp_path):
    spec = _write_spec(tmp_path, tiny_beir, {"bm25": {"ndcg@10": [0.0, 0.0]}})
    out = tmp_path / "report"
    proc = run_cli("jpq_pyserini.reproduce", str(spec), "--output", str(out), check=False)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "outside tolerance: bm25 ndcg@10" in proc.stderr
    report = (out / "report.md").read_text()
    for section in ("## Q1", "## Q2", "## Q3", "jpq16-no-centroid-training", "flat-ft-on-pq16", "bm25+jpq16",
                    "label-free JPQ M=16", "## Fusion weights"):
        assert section in report
    assert (out / "ndcg_vs_bytes.png").stat().st_size > 1000
    scores = json.loads((out / "scores.json").read_text())["scores"]
    assert 0 < scores["bm25"]["ndcg@10"] <= 1 and 0 < scores["jpq16"]["ndcg@10"] <= 1
    assert 0 < scores["lf-queries16"]["ndcg@10"] <= 1 and 0 < scores["bm25+jpq16"]["ndcg@10"] <= 1
    # a second run reuses every artifact
    proc = run_cli("jpq_pyserini.reproduce", str(spec), "--output", str(out), check=False)
    assert "built" not in proc.stderr and "reusing jpq16" in proc.stderr


def test_spec_errors(tiny_beir, tmp_path):
    spec = _write_spec(tmp_path, tiny_beir, {"jpq16": {"ndcg@10": [0.5]}})
    with pytest.raises(UsageError, match=r"expected.jpq16.ndcg@10 must be \[score, tolerance >= 0\]"):
        load_spec(spec)
    data = yaml.safe_load(spec.read_text())
    data.update(expected={}, index="nope")
    spec.write_text(yaml.safe_dump(data))
    with pytest.raises(UsageError, match="unknown index recipe 'nope'"):
        load_spec(spec)
    data.update(index="tiny", label_free=["labels"])
    spec.write_text(yaml.safe_dump(data))
    with pytest.raises(UsageError, match="label_free"):
        load_spec(spec)
