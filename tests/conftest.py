"""Shared fixtures: a small real slice of the shipped SciFact, encoded once per session."""
import json
import os
import subprocess
import sys

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import jpq_pyserini  # noqa: E402  (prepares Java, registers datasets)
import ir_datasets  # noqa: E402

N_DOCS = 300
N_QUERIES = 24


def run_cli(*args, check=True):
    """Run a verb in a fresh process, as a user would; returns the CompletedProcess."""
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          env={**os.environ, "TQDM_DISABLE": "1"})
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="session", autouse=True)
def _cache(tmp_path_factory):
    os.environ["JPQ_PYSERINI_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def tiny_beir(tmp_path_factory):
    """A BEIR folder: the relevant docs of the first test and train queries plus filler docs."""
    root = tmp_path_factory.mktemp("tiny_scifact")
    full = ir_datasets.load("jpq-pyserini/scifact")
    splits = {s: ir_datasets.load(f"jpq-pyserini/scifact/{s}") for s in ("train", "test")}
    keep_q, keep_d, qrels = {}, [], {}
    for split, ds in splits.items():
        texts = {q.query_id: q.text for q in ds.queries_iter()}
        rows = [q for q in ds.qrels_iter()]
        qids = sorted({r.query_id for r in rows}, key=int)[:N_QUERIES]
        qrels[split] = [r for r in rows if r.query_id in qids]
        keep_q.update((q, texts[q]) for q in qids)
        keep_d += [r.doc_id for r in qrels[split]]
    for d in full.docs_iter():
        if len(set(keep_d)) >= N_DOCS:
            break
        keep_d.append(d.doc_id)
    keep_d = list(dict.fromkeys(keep_d))
    store = full.docs_store()
    with open(root / "corpus.jsonl", "w") as f:
        for did in keep_d:
            doc = store.get(did)
            f.write(json.dumps({"_id": did, "title": doc.title, "text": doc.text}) + "\n")
    with open(root / "queries.jsonl", "w") as f:
        for qid, text in keep_q.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (root / "qrels").mkdir()
    for split, rows in qrels.items():
        with open(root / "qrels" / f"{split}.tsv", "w") as f:
            f.write("query-id\tcorpus-id\tscore\n" + "".join(f"{r.query_id}\t{r.doc_id}\t{r.relevance}\n" for r in rows))
    return root


@pytest.fixture(scope="session")
def flat_dir(tiny_beir, tmp_path_factory):
    out = tmp_path_factory.mktemp("idx") / "flat"
    run_cli("jpq_pyserini.encode", "--corpus", str(tiny_beir), "--output", str(out), "--max-length", "64")
    return out


@pytest.fixture(scope="session")
def pq_dir(flat_dir):
    out = flat_dir.parent / "pq16"
    run_cli("jpq_pyserini.index", "--input", str(flat_dir), "--output", str(out), "--pq-m", "16")
    return out


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory):
    """An ONNX encoder dir (export-onnx) of a small random 32-dimensional BERT with MiniLM's tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from jpq_pyserini.encoder import DEFAULT_ENCODER, embedded_model_path
    from jpq_pyserini.onnx_encoder import export
    root = tmp_path_factory.mktemp("tiny_onnx")
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_path(DEFAULT_ENCODER))
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(root / "torch")
    tokenizer.save_pretrained(root / "torch")
    (root / "onnx").mkdir()
    export(str(root / "torch"), root / "onnx")
    return root / "onnx"
