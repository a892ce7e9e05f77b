"""Label-free JPQ (train --teacher): a real flat teacher, a real PQ index, real queries or
pseudo-queries from the corpus, and no qrels."""
import json
import shutil

import pytest
import torch

from conftest import run_cli
from jpq_pyserini.loss import listwise_distill_loss
from jpq_pyserini.teacher import GENERATORS, pseudo_queries


def test_distill_loss_is_zero_only_when_the_rankings_agree():
    teacher = torch.tensor([[0.9, 0.5, 0.1, 0.0]])
    mask = torch.tensor([[True, True, True, False]])
    assert listwise_distill_loss(teacher.clone(), teacher, mask).item() == pytest.approx(0.0, abs=1e-6)
    student = torch.tensor([[0.1, 0.5, 0.9, 5.0]], requires_grad=True)
    loss = listwise_distill_loss(student, teacher, mask)
    loss.backward()
    assert loss.item() > 0 and student.grad[0, 0] < 0 < student.grad[0, 2] and student.grad[0, 3] == 0


@pytest.mark.parametrize("generator", GENERATORS)
def test_pseudo_queries_come_from_the_corpus(tiny_beir, generator):
    a = pseudo_queries(str(tiny_beir), 20, seed=3, generator=generator)
    assert len(a) == 20 and a == pseudo_queries(str(tiny_beir), 20, seed=3, generator=generator)
    corpus = (tiny_beir / "corpus.jsonl").read_text()
    assert all(" ".join(t.split()[:4]) in " ".join(corpus.split()) for _, t in a[:5])


def test_label_free_training_writes_a_normal_output(pq_dir, flat_dir, tiny_beir, tmp_path):
    out = tmp_path / "lf"
    run_cli("jpq_pyserini.train", "--index", str(pq_dir), "--teacher", str(flat_dir), "--queries",
            f"{tiny_beir}/train", "--output", str(out), "--epochs", "2", "--batch-size", "8", "--neg-topk", "50",
            "--watch", f"{tiny_beir}/test")
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["labels"] is False and summary["teacher"] == str(flat_dir)
    assert summary["queries"] == f"--queries {tiny_beir}/train" and "held-out queries" in summary["selection"]
    meta = json.loads((out / "index" / "meta.json").read_text())
    assert meta["train"]["labels"] is False and meta["train"]["loss"] == "kl"
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 3 and all("watch_ndcg@10" in r for r in log)
    run_cli("jpq_pyserini.search", "--index", str(out / "index"), "--encoder", str(out / "encoder"),
            "--topics", f"{tiny_beir}/test", "--output", str(tmp_path / "run.trec"), "--hits", "10")
    assert (tmp_path / "run.trec").read_text().count("\n") > 0


def test_pseudo_queries_are_the_default_without_queries(pq_dir, flat_dir, tmp_path):
    out = tmp_path / "lf"
    run_cli("jpq_pyserini.train", "--index", str(pq_dir), "--teacher", str(flat_dir), "--pseudo-queries", "60",
            "--output", str(out), "--epochs", "1", "--batch-size", "8", "--neg-topk", "50")
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["labels"] is False and summary["queries"].startswith("60 pseudo-queries from")


def test_label_free_bad_input_is_one_line_and_writes_nothing(pq_dir, flat_dir, tiny_beir, tmp_path):
    out = tmp_path / "out"

    def fails(*flags, expect):
        proc = run_cli("jpq_pyserini.train", "--index", str(pq_dir), "--output", str(out), "--epochs", "1", *flags,
                       check=False)
        last = proc.stderr.strip().splitlines()[-1]
        assert proc.returncode == 2 and expect in last, proc.stderr[-2000:]
        assert not out.exists()

    other = tmp_path / "other-flat"
    shutil.copytree(flat_dir, other)
    ids = (other / "docid").read_text().splitlines()
    (other / "docid").write_text("\n".join(ids[1:] + ids[:1]) + "\n")
    fails("--teacher", str(other), "--queries", f"{tiny_beir}/train", expect="its documents differ from --index's")
    fails("--teacher", str(pq_dir), "--queries", f"{tiny_beir}/train", expect="the teacher is the uncompressed")
    empty = tmp_path / "queries.tsv"
    empty.write_text("")
    fails("--teacher", str(flat_dir), "--queries", str(empty), expect=str(empty))
    bad = tmp_path / "topics.txt"
    bad.write_text("<top>\n<num> Number: 1\n<title>\n</top>\n")
    fails("--teacher", str(flat_dir), "--queries", str(bad), expect=str(bad))
    fails("--teacher", str(flat_dir), "--pseudo-queries", "0", expect="--pseudo-queries")
    fails("--teacher", str(flat_dir), "--queries", f"{tiny_beir}/train", "--train", f"{tiny_beir}/train",
          expect="pass one")
    fails("--teacher", str(flat_dir), "--train", f"{tiny_beir}/train", "--dev", f"{tiny_beir}/test",
          expect="labels or a teacher, not both")
    textless = tmp_path / "textless"
    textless.mkdir()
    (textless / "corpus.jsonl").write_text('{"_id": "a", "title": "", "text": ""}\n')
    fails("--teacher", str(flat_dir), "--corpus", str(textless), expect="no document has text")
