import subprocess
import sys

import numpy as np
import pytest

from conftest import run_cli
from jpq_pyserini.datasets import load_dataset, load_qrels
from jpq_pyserini.eval import evaluate, read_run
from jpq_pyserini.errors import UsageError


@pytest.fixture()
def run_and_qrels(tiny_beir, tmp_path):
    qrels = load_qrels(load_dataset(str(tiny_beir / "test")))
    docs = [d.doc_id for d in load_dataset(str(tiny_beir)).docs_iter()]
    rng = np.random.default_rng(0)
    qrels_file, run_file = tmp_path / "qrels.txt", tmp_path / "run.trec"
    qrels_file.write_text("".join(f"{q} 0 {d} {g}\n" for q, rel in qrels.items() for d, g in rel.items()))
    with open(run_file, "w") as f:
        for q, rel in qrels.items():
            cands = list(dict.fromkeys(list(rel)[:1] + list(rng.choice(docs, 150, replace=False))))
            scores = rng.random(len(cands))
            for rank, i in enumerate(np.argsort(-scores), 1):
                f.write(f"{q} Q0 {cands[i]} {rank} {scores[i]:.8f} test\n")
    return qrels_file, run_file


def test_eval_equals_pyserini_trec_eval(run_and_qrels):
    qrels_file, run_file = run_and_qrels
    ours = evaluate(str(qrels_file), str(run_file), ["ndcg@10", "recall@100", "map"])
    code = ("import jpq_pyserini, sys, runpy; sys.argv = ['trec_eval'] + sys.argv[1:]; "
            "runpy.run_module('pyserini.eval.trec_eval', run_name='__main__')")
    for measure, metric in (("ndcg_cut.10", "ndcg@10"), ("recall.100", "recall@100"), ("map", "map")):
        proc = subprocess.run([sys.executable, "-c", code, "-m", measure, str(qrels_file), str(run_file)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        line = [l for l in proc.stdout.splitlines() if l.split()[:1] == [measure.replace(".", "_")] and "all" in l][0]
        assert abs(float(line.split()[-1]) - float(ours[metric])) < 1e-4, (measure, line, ours[metric])


def test_eval_cli_stat_test_and_bad_runs(run_and_qrels, tiny_beir, tmp_path):
    """Two different runs: the table prints ranx's score of each, and marks the run that ranks
    every query's relevant documents first as significantly better than the random one."""
    qrels_file, run_file = run_and_qrels
    qrels = load_qrels(load_dataset(str(tiny_beir / "test")))
    perfect = tmp_path / "perfect.trec"
    perfect.write_text("".join(f"{q} Q0 {d} {r} {100 - r} p\n" for q, rel in qrels.items()
                               for r, d in enumerate(sorted(rel, key=lambda d: -rel[d]), 1)))
    proc = run_cli("jpq_pyserini.eval", "--qrels", str(tiny_beir / "test"), "--runs", str(run_file), str(perfect),
                   "--names", "random", "perfect", "--stat-test", "student", "--metrics", "ndcg@10")
    rows = {line.split()[1]: line.split()[2] for line in proc.stdout.splitlines() if line.split()[1:2] in (["random"], ["perfect"])}
    random_score = evaluate(str(qrels_file), str(run_file), ["ndcg@10"])["ndcg@10"]
    assert rows["random"] == f"{random_score:.3f}" and rows["perfect"] == "1.000ᵃ", proc.stdout
    other = tmp_path / "other.trec"
    other.write_text("zzz Q0 d1 1 1.0 x\n")
    proc = run_cli("jpq_pyserini.eval", "--qrels", str(qrels_file), "--runs", str(other), check=False)
    assert proc.returncode == 2 and "none of its 1 query ids occur in the qrels" in proc.stderr
    dup = tmp_path / "dup.trec"
    dup.write_text("1 Q0 d1 1 2.0 x\n1 Q0 d1 2 1.0 x\n")
    with pytest.raises(UsageError, match="appears twice"):
        read_run(dup)


def test_submit_package(run_and_qrels, tiny_beir, tmp_path):
    import bz2
    import json
    _, run_file = run_and_qrels
    out = tmp_path / "pkg"
    topics = str(tiny_beir / "test")
    run_cli("jpq_pyserini.submit", "--dev-run", str(run_file), "--eval-run", str(run_file), "--dev-topics", topics,
            "--eval-topics", topics, "--team", "t", "--description", "JPQ test", "--output", str(out))
    lines = bz2.open(out / "dev.txt.bz2", "rt").read().splitlines()
    assert lines[0].count("\t") == 2 and lines[0].endswith("\t1")
    assert json.loads((out / "metadata.json").read_text())["team"] == "t"
    proc = run_cli("jpq_pyserini.submit", "--dev-run", str(run_file), "--eval-run", str(run_file), "--dev-topics",
                   "jpq-pyserini/scifact/test", "--eval-topics", topics, "--team", "t", "--description", "d",
                   "--output", str(tmp_path / "pkg2"), check=False)
    assert proc.returncode == 2 and "queries of the topic set have no results" in proc.stderr
    assert not (tmp_path / "pkg2").exists()
