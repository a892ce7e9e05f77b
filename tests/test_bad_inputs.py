"""Every bad input gets one line naming the flag or file, exit code 2, and writes nothing.

Each case is a real command (``jpq-pyserini VERB ...``, run in this process so the table
stays fast) on small real files: the tiny SciFact slice, its real faiss indexes, a real
checkpoint, and copies of them damaged the ways users damage files. Before and after each
case the test records every file under the inputs and the output area; nothing may appear,
change or vanish.
"""
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import faiss
import numpy as np
import pytest

from jpq_pyserini.cli import main as cli
from jpq_pyserini.encoder import DEFAULT_ENCODER, embedded_model_path
from jpq_pyserini.indexdir import flat_vectors, read_index_dir, write_index_dir
from jpq_pyserini.retrieval import faiss_gpus
from test_reproduce import _write_spec

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def _beir(root, corpus_bytes, queries=None):
    root.mkdir()
    (root / "corpus.jsonl").write_bytes(corpus_bytes)
    if queries is not None:
        (root / "queries.jsonl").write_text(queries)
    return root


def _copy_damaged(src, dst, name, data=None, truncate=None):
    shutil.copytree(src, dst)
    path = dst / name
    if truncate is not None:
        path.write_bytes(path.read_bytes()[:truncate])
    else:
        path.write_bytes(data)
    return dst


@pytest.fixture(scope="module")
def P(tiny_beir, flat_dir, pq_dir, tiny_onnx, tmp_path_factory):
    """The files the cases read (all real), and ``out``, where outputs would go."""
    root = tmp_path_factory.mktemp("bad_inputs")
    p = SimpleNamespace(root=root, beir=tiny_beir, flat=flat_dir, pq=pq_dir, out=root / "out", model=MODEL)
    docs = [json.loads(l) for l in (tiny_beir / "corpus.jsonl").read_text().splitlines()]
    qrels_rows = [l.split("\t") for l in (tiny_beir / "qrels" / "test.tsv").read_text().splitlines()[1:]]
    qids = sorted({r[0] for r in qrels_rows})
    p.test = str(tiny_beir / "test")

    # runs, qrels, topics
    run = "".join(f"{q} Q0 {d['_id']} {r} {10 - r / 10:.4f} t\n" for q in qids for r, d in enumerate(docs[:20], 1))
    files = {
        "run": run,
        "run_stray": run + f"{qids[0]} {docs[30]['_id']} 21\n",
        "run_garbage": run + "1 Q0 garbage\n",
        "run_score": run.replace(" 9.9000 ", " high ", 1),
        "run_empty": "",
        "run_other": "zzz Q0 d1 1 1.0 x\n",
        "run_dup": run + run.splitlines()[0] + "\n",
        "run_cols": run + "1 Q0 d 1\n",
        "run_msmarco_rank": f"{qids[0]}\t{docs[0]['_id']}\tfirst\n",
        "qrels": "".join(f"{r[0]} 0 {r[1]} {r[2].strip()}\n" for r in qrels_rows),
        "qrels_high": f"{qids[0]} 0 {docs[0]['_id']} high\n",
        "qrels_cols": f"{qids[0]} {docs[0]['_id']}\n",  # 3 columns are SMART qrels: 2 are nothing
        "topics_empty.tsv": "",
        "topics_blank.tsv": "q1\t \n",
        "spec_notyaml.yaml": "pq_m: [16\n",
        "spec_list.yaml": "- 1\n- 2\n",
        "afile": "x\n",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    (root / "run_latin1").write_bytes(run.encode() + "1 Q0 caf\xe9 1 1.0 t\n".encode("latin-1"))
    (root / "qrels_latin1").write_bytes("1 0 caf\xe9 1\n".encode("latin-1"))
    (root / "topics_latin1.tsv").write_bytes("1\tcaf\xe9 au lait\n".encode("latin-1"))
    (root / "nonempty").mkdir()
    (root / "nonempty" / "keep.txt").write_text("mine\n")

    # collections
    lines = [json.dumps(d) for d in docs]
    p.corpus_dup = _beir(root / "corpus_dup", ("\n".join(lines + lines[:3]) + "\n").encode())
    p.corpus_trunc = _beir(root / "corpus_trunc", ("\n".join(lines) + "\n").encode()[:-40])
    p.corpus_latin1 = _beir(root / "corpus_latin1", ('{"_id": "1", "title": "", "text": "caf\xe9"}\n').encode("latin-1"))
    p.corpus_empty = _beir(root / "corpus_empty", b"")
    (root / "noqrels").mkdir()
    (root / "noqrels" / "docs.tsv").write_text("d1\tx\n")
    (root / "noqrels" / "queries.tsv").write_text("q1\tx\n")

    # index dirs
    index, docids, meta = read_index_dir(flat_dir)
    small = faiss.IndexFlatIP(index.d)
    small.add(flat_vectors(index)[:200])
    (root / "flat200").mkdir()
    write_index_dir(root / "flat200", small, docids[:200], {k: v for k, v in meta.items() if k not in ("dim", "num_docs")})
    p.flat200 = root / "flat200"
    p.flat_copy = root / "flat_copy"
    shutil.copytree(flat_dir, p.flat_copy)
    size = (pq_dir / "index").stat().st_size
    p.pq_trunc = _copy_damaged(pq_dir, root / "pq_trunc", "index", truncate=size // 2)
    p.pq_meta = _copy_damaged(pq_dir, root / "pq_meta", "meta.json", data=b'{\n  "kind": "pq",\n  "pq_m": 16,,\n}\n')
    p.pq_docid = _copy_damaged(pq_dir, root / "pq_docid", "docid", data=b"a\nb\n")
    p.flat_meta = _copy_damaged(flat_dir, root / "flat_meta", "meta.json", data=b"{not json")
    p.flat_trunc = _copy_damaged(flat_dir, root / "flat_trunc", "index", truncate=1000)
    from jpq_pyserini.index import index_flat_dir
    p.ivf = root / "ivf4"
    index_flat_dir(flat_dir, p.ivf, 16, opq=False, ivf=4)
    p.ivf_fs = root / "ivf4_fs"
    index_flat_dir(flat_dir, p.ivf_fs, 96, nbits=4, opq=False, fast_scan=True, ivf=4)
    p.no_docid = root / "no_docid"
    p.no_docid.mkdir()
    (p.no_docid / "index").write_bytes(b"")

    # a model dir with a config and no weights, and one with truncated weights
    p.config_only = root / "config_only"
    p.config_only.mkdir()
    (p.config_only / "config.json").write_text(json.dumps({"model_type": "bert"}))
    p.model_trunc = root / "model_trunc"
    shutil.copytree(embedded_model_path(DEFAULT_ENCODER), p.model_trunc)
    weights = p.model_trunc / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100_000])

    # ONNX encoder dirs (a real 32-dimensional export, and one with a truncated graph) and
    # encoded-queries dirs: 32-dimensional, and 384-dimensional for other texts
    p.onnx32 = tiny_onnx
    size = (tiny_onnx / "model.onnx").stat().st_size
    p.onnx_trunc = _copy_damaged(tiny_onnx, root / "onnx_trunc", "model.onnx", truncate=size // 3)
    from jpq_pyserini.encode_queries import encode_queries
    p.queries32 = root / "queries32"
    encode_queries(p.test, str(tiny_onnx), p.queries32)
    import pandas as pd
    p.queries_other = root / "queries_other"
    p.queries_other.mkdir()
    pd.DataFrame({"id": ["1"], "text": ["another query"], "embedding": [np.ones(384, dtype=np.float32)]}).to_pickle(
        p.queries_other / "embedding.pkl")
    p.queries_bad = root / "queries_bad"
    p.queries_bad.mkdir()
    (p.queries_bad / "embedding.pkl").write_bytes(b"not a pickle")
    import os
    import pickle

    class Evil:  # loading it with pickle would create root/pwned; the watched tree would show it
        def __reduce__(self):
            return os.mkdir, (str(root / "pwned"),)
    for name, obj in (("queries_evil", Evil()), ("queries_list", [["1", "q", [0.0] * 384]])):
        setattr(p, name, root / name)
        (root / name).mkdir()
        (root / name / "embedding.pkl").write_bytes(pickle.dumps(obj))

    # a real training checkpoint (one step of a 2-epoch run), and damaged copies
    from jpq_pyserini.train import TrainConfig, train_jpq
    p.ckpt = root / "ckpt"
    train_jpq(TrainConfig(index=str(pq_dir), output=str(p.ckpt), train=str(tiny_beir / "train"), dev=p.test,
                          epochs=2, batch_size=8, neg_topk=50), progress=False, stop_after=1)
    last = Path("checkpoints") / "last"
    p.ckpt_state = _copy_damaged(p.ckpt, root / "ckpt_state", last / "state.pt", data=b"\x80\x04garbage")
    p.ckpt_config = _copy_damaged(p.ckpt, root / "ckpt_config", last / "config.json", data=b'{"epochs": 2,\n oops}')
    p.ckpt_weights = _copy_damaged(p.ckpt, root / "ckpt_weights", last / "weights.safetensors", data=b"\x00" * 64)

    # a trained output (one epoch), its copy with the head folded in (fold-head), an encoder dir
    # whose head does not fit its model, and a PQ index dir of 32-dimensional vectors
    p.trained = root / "trained"
    train_jpq(TrainConfig(index=str(pq_dir), output=str(p.trained), train=str(tiny_beir / "train"), dev=p.test,
                          epochs=1, batch_size=8, neg_topk=50), progress=False)
    from jpq_pyserini.fold_head import fold_head
    p.folded = root / "folded"
    fold_head(p.trained / "index", p.folded)
    from jpq_pyserini.query_head import HEAD_FILE, QueryHead
    p.head_bad = root / "head_bad"
    shutil.copytree(p.trained / "encoder", p.head_bad)
    QueryHead(8).save(p.head_bad / HEAD_FILE)
    from jpq_pyserini.index import build_pq_index
    vectors32 = np.random.default_rng(0).standard_normal((300, 32)).astype("float32")
    p.pq32 = root / "pq32"
    p.pq32.mkdir()
    write_index_dir(p.pq32, build_pq_index(vectors32, 4, opq=False), [f"x{i}" for i in range(300)], {"kind": "pq"})

    # reproduce specs
    spec_root = root / "specs"
    spec_root.mkdir()
    good = _write_spec(spec_root, tiny_beir, {})
    import yaml
    base = yaml.safe_load(good.read_text())
    for name, change in {"bad_m": {"pq_m": [7], "main_m": 7}, "bad_main": {"main_m": 24}, "bad_ablation": {"ablations": ["nope"]},
                         "bad_metric": {"metrics": ["bogus@3"]}, "bad_key": {"colour": "red"},
                         "bad_hits": {"hits": 0}, "bad_expected": {"expected": {"bm25": {"ndcg@10": [0.5]}}},
                         "bad_init": {"jpq_init": "best"}, "bad_index": {"index": "nope"}}.items():
        (spec_root / "eval" / f"{name}.yaml").write_text(yaml.safe_dump({**base, **change}))
    p.spec = good
    p.specs = spec_root / "eval"
    return p


def _state(*roots):
    state = {}
    for root in roots:
        for path in Path(root).rglob("*"):
            st = path.lstat()
            state[str(path)] = (st.st_size, st.st_mtime_ns) if path.is_file() else None
    return state


# (id, verb, argv from P, what the one line must say)
CASES = [
    # ---------------------------------------------------------------- encode
    ("encode-missing-corpus", "encode", lambda P: ["--corpus", f"{P.root}/missing", "--output", P.out], "unknown dataset"),
    ("encode-unknown-id", "encode", lambda P: ["--corpus", "no-such-id", "--output", P.out], "--corpus no-such-id"),
    ("encode-nonempty-output", "encode", lambda P: ["--corpus", P.beir, "--output", P.flat], "not empty"),
    ("encode-output-is-file", "encode", lambda P: ["--corpus", P.beir, "--output", f"{P.root}/afile"], "not a directory"),
    ("encode-output-under-file", "encode", lambda P: ["--corpus", P.beir, "--output", f"{P.root}/afile/x"], "--output"),
    ("encode-unwritable", "encode", lambda P: ["--corpus", P.beir, "--output", "/proc/jpq/x"], "cannot write"),
    ("encode-shard-id-range", "encode", lambda P: ["--corpus", P.beir, "--output", P.out, "--shard-id", "3", "--shard-num", "3"], "--shard-id 3"),
    ("encode-shard-num-0", "encode", lambda P: ["--corpus", P.beir, "--output", P.out, "--shard-num", "0"], "--shard-num"),
    ("encode-shard-id-neg", "encode", lambda P: ["--corpus", P.beir, "--output", P.out, "--shard-id", "-1"], "--shard-id"),
    ("encode-max-length-0", "encode", lambda P: ["--corpus", P.beir, "--output", P.out, "--max-length", "0"], "--max-length"),
    ("encode-max-length-neg", "encode", lambda P: ["--corpus", P.beir, "--output", P.out, "--max-length", "-5"], "--max-length"),
    ("encode-max-length-text", "encode", lambda P: ["--corpus", P.beir, "--output", P.out, "--max-length", "long"], "--max-length"),
    ("encode-batch-size-0", "encode", lambda P: ["--corpus", P.beir, "--output", P.out, "--batch-size", "0"], "--batch-size"),
    ("encode-batch-size-neg", "encode", lambda P: ["--corpus", P.beir, "--output", P.out, "--batch-size", "-1"], "--batch-size"),
    ("encode-encoder-not-model", "encode", lambda P: ["--corpus", P.beir, "--output", P.out, "--encoder", P.root], "not a Hugging Face model"),
    ("encode-encoder-config-only", "encode", lambda P: ["--corpus", P.beir, "--output", P.out, "--encoder", P.config_only], "not a Hugging Face model"),
    ("encode-encoder-missing", "encode", lambda P: ["--corpus", P.beir, "--output", P.out, "--encoder", f"{P.root}/nomodel"], "no such model"),
    ("encode-encoder-truncated", "encode", lambda P: ["--corpus", P.beir, "--output", P.out, "--encoder", P.model_trunc], "damaged or truncated"),
    ("encode-duplicate-ids", "encode", lambda P: ["--corpus", P.corpus_dup, "--output", P.out], "occurs 2 times"),
    ("encode-truncated-corpus", "encode", lambda P: ["--corpus", P.corpus_trunc, "--output", P.out], "--corpus"),
    ("encode-latin1-corpus", "encode", lambda P: ["--corpus", P.corpus_latin1, "--output", P.out], "--corpus"),
    ("encode-empty-corpus", "encode", lambda P: ["--corpus", P.corpus_empty, "--output", P.out], "--corpus"),
    ("encode-bad-device", "encode", lambda P: ["--corpus", P.beir, "--output", P.out, "--device", "cuda:99"], "--device cuda:99"),
    ("encode-unknown-flag", "encode", lambda P: ["--corpus", P.beir, "--output", P.out, "--shards", "2"], "--shards"),
    ("encode-no-output", "encode", lambda P: ["--corpus", P.beir], "--output"),
    # ---------------------------------------------------------------- merge
    ("merge-missing-input", "merge", lambda P: ["--input", f"{P.root}/missing", "--output", P.out], "no such index directory"),
    ("merge-no-docid", "merge", lambda P: ["--input", P.no_docid, "--output", P.out], "missing 'docid'"),
    ("merge-unrelated", "merge", lambda P: ["--input", P.flat, P.flat_copy, "--output", P.out], "occurs 2 times"),
    ("merge-pq-same-docs", "merge", lambda P: ["--input", P.pq, P.pq, "--output", P.out], "occurs 2 times"),
    ("merge-bad-meta", "merge", lambda P: ["--input", P.flat_meta, "--output", P.out], "meta.json:1:2"),
    ("merge-truncated-index", "merge", lambda P: ["--input", P.flat_trunc, "--output", P.out], "not a readable faiss index"),
    ("merge-nonempty-output", "merge", lambda P: ["--input", P.flat, "--output", f"{P.root}/nonempty"], "not empty"),
    ("merge-output-inside-input", "merge", lambda P: ["--input", P.flat, "--output", f"{P.flat}/merged"], "overlaps --input"),
    ("merge-unwritable", "merge", lambda P: ["--input", P.flat, "--output", "/proc/jpq/x"], "cannot write"),
    ("merge-docid-count", "merge", lambda P: ["--input", P.pq_docid, "--output", P.out], "docid has 2 lines"),
    # ---------------------------------------------------------------- index
    ("index-m-not-divisor", "index", lambda P: ["--input", P.flat, "--output", P.out, "--pq-m", "7"], "--pq-m 7: must divide"),
    ("index-m-0", "index", lambda P: ["--input", P.flat, "--output", P.out, "--pq-m", "0"], "--pq-m"),
    ("index-m-neg", "index", lambda P: ["--input", P.flat, "--output", P.out, "--pq-m", "-4"], "--pq-m"),
    ("index-m-text", "index", lambda P: ["--input", P.flat, "--output", P.out, "--pq-m", "many"], "--pq-m"),
    ("index-nbits-6", "index", lambda P: ["--input", P.flat, "--output", P.out, "--pq-nbits", "6"], "--pq-nbits 6"),
    ("index-threads-neg", "index", lambda P: ["--input", P.flat, "--output", P.out, "--threads", "-3"], "--threads"),
    ("index-threads-0", "index", lambda P: ["--input", P.flat, "--output", P.out, "--threads", "0"], "--threads"),
    ("index-seed-text", "index", lambda P: ["--input", P.flat, "--output", P.out, "--seed", "x"], "--seed"),
    ("index-too-few-docs", "index", lambda P: ["--input", P.flat200, "--output", P.out], "fewer than the 256 centroids"),
    ("index-too-few-docs-pq", "index", lambda P: ["--input", P.flat200, "--output", P.out, "--no-opq"], "fewer than the 256 centroids"),
    ("index-too-few-for-opq", "index", lambda P: ["--input", P.flat, "--output", P.out, "--opq"], "--opq needs at least"),
    ("index-fast-scan-8bit", "index", lambda P: ["--input", P.flat, "--output", P.out, "--fast-scan"], "--fast-scan needs --pq-nbits 4"),
    ("index-ivf-too-many-lists", "index", lambda P: ["--input", P.flat, "--output", P.out, "--no-opq", "--ivf", "301"], "--ivf 301: more lists than the 300 documents"),
    ("index-ivf-0", "index", lambda P: ["--input", P.flat, "--output", P.out, "--ivf", "0"], "--ivf"),
    ("index-nprobe-over-ivf", "index", lambda P: ["--input", P.flat, "--output", P.out, "--no-opq", "--ivf", "8", "--nprobe", "9"], "--nprobe 9: larger than --ivf 8"),
    ("index-nprobe-without-ivf", "index", lambda P: ["--input", P.flat, "--output", P.out, "--nprobe", "4"], "--nprobe 4: only for an inverted-file index"),
    ("index-fast-scan-8bit-ivf", "index", lambda P: ["--input", P.flat, "--output", P.out, "--fast-scan", "--ivf", "8"], "--fast-scan needs --pq-nbits 4"),
    ("index-missing-input", "index", lambda P: ["--input", f"{P.root}/missing", "--output", P.out], "no such index directory"),
    ("index-no-docid", "index", lambda P: ["--input", P.no_docid, "--output", P.out], "missing 'docid'"),
    ("index-pq-input", "index", lambda P: ["--input", P.pq, "--output", P.out], "pq16: expected a flat index dir"),
    ("index-truncated-input", "index", lambda P: ["--input", P.flat_trunc, "--output", P.out], "not a readable faiss index"),
    ("index-bad-meta", "index", lambda P: ["--input", P.flat_meta, "--output", P.out], "meta.json:1:2"),
    ("index-nonempty-output", "index", lambda P: ["--input", P.flat, "--output", P.pq], "not empty"),
    ("index-output-is-input", "index", lambda P: ["--input", P.flat, "--output", P.flat, "--overwrite"], "overlaps --input"),
    ("index-output-inside-input", "index", lambda P: ["--input", P.flat, "--output", f"{P.flat}/pq"], "overlaps --input"),
    ("index-unwritable", "index", lambda P: ["--input", P.flat, "--output", "/proc/jpq/x"], "cannot write"),
    ("index-docid-count", "index", lambda P: ["--input", P.pq_docid, "--output", P.out], "docid has 2 lines"),
    # ---------------------------------------------------------------- search
    ("search-missing-index", "search", lambda P: ["--index", f"{P.root}/nope", "--topics", P.test, "--encoder", P.model, "--output", P.out], "no such index directory"),
    ("search-unknown-topics", "search", lambda P: ["--index", P.pq, "--topics", "no-such-topics", "--encoder", P.model, "--output", P.out], "unknown topics"),
    ("search-missing-topics-file", "search", lambda P: ["--index", P.pq, "--topics", f"{P.root}/missing.tsv", "--encoder", P.model, "--output", P.out], "no such file"),
    ("search-empty-topics", "search", lambda P: ["--index", P.pq, "--topics", f"{P.root}/topics_empty.tsv", "--encoder", P.model, "--output", P.out], "empty file"),
    ("search-blank-query", "search", lambda P: ["--index", P.pq, "--topics", f"{P.root}/topics_blank.tsv", "--encoder", P.model, "--output", P.out], "empty queries"),
    ("search-latin1-topics", "search", lambda P: ["--index", P.pq, "--topics", f"{P.root}/topics_latin1.tsv", "--encoder", P.model, "--output", P.out], "not UTF-8"),
    ("search-nprobe-not-ivf", "search", lambda P: ["--index", P.pq, "--topics", P.test, "--encoder", P.model, "--output", P.out, "--nprobe", "2"], "is not an inverted-file index"),
    ("search-nprobe-over-lists", "search", lambda P: ["--index", P.ivf, "--topics", P.test, "--encoder", P.model, "--output", P.out, "--nprobe", "5"], "--nprobe 5: larger than the 4 lists"),
    ("search-nprobe-0", "search", lambda P: ["--index", P.ivf, "--topics", P.test, "--encoder", P.model, "--output", P.out, "--nprobe", "0"], "--nprobe"),
    ("search-hits-0", "search", lambda P: ["--index", P.pq, "--topics", P.test, "--encoder", P.model, "--output", P.out, "--hits", "0"], "--hits"),
    ("search-hits-neg", "search", lambda P: ["--index", P.pq, "--topics", P.test, "--encoder", P.model, "--output", P.out, "--hits", "-5"], "--hits"),
    ("search-batch-size-0", "search", lambda P: ["--index", P.pq, "--topics", P.test, "--encoder", P.model, "--output", P.out, "--batch-size", "0"], "--batch-size"),
    ("search-threads-0", "search", lambda P: ["--index", P.pq, "--topics", P.test, "--encoder", P.model, "--output", P.out, "--threads", "0"], "--threads"),
    ("search-output-is-dir", "search", lambda P: ["--index", P.pq, "--topics", P.test, "--encoder", P.model, "--output", P.root], "is a directory"),
    ("search-unwritable", "search", lambda P: ["--index", P.pq, "--topics", P.test, "--encoder", P.model, "--output", "/proc/jpq/run.trec"], "cannot write"),
    ("search-truncated-index", "search", lambda P: ["--index", P.pq_trunc, "--topics", P.test, "--encoder", P.model, "--output", P.out], "not a readable faiss index"),
    ("search-bad-meta", "search", lambda P: ["--index", P.pq_meta, "--topics", P.test, "--encoder", P.model, "--output", P.out], "meta.json:3:14"),
    ("search-docid-count", "search", lambda P: ["--index", P.pq_docid, "--topics", P.test, "--encoder", P.model, "--output", P.out], "docid has 2 lines"),
    ("search-encoder-missing", "search", lambda P: ["--index", P.pq, "--topics", P.test, "--encoder", f"{P.root}/nomodel", "--output", P.out], "no such model"),
    ("search-encoder-not-model", "search", lambda P: ["--index", P.pq, "--topics", P.test, "--encoder", P.root, "--output", P.out], "not a Hugging Face model"),
    ("search-encoder-truncated", "search", lambda P: ["--index", P.pq, "--topics", P.test, "--encoder", P.model_trunc, "--output", P.out], "damaged or truncated"),
    ("search-no-output", "search", lambda P: ["--index", P.pq, "--topics", P.test, "--encoder", P.model], "--output"),
    ("search-unknown-split", "search", lambda P: ["--index", P.pq, "--topics", f"{P.beir}/nosplit", "--encoder", P.model, "--output", P.out], "no split 'nosplit'"),
    ("search-onnx-dim", "search", lambda P: ["--index", P.pq, "--topics", P.test, "--encoder", P.onnx32, "--output", P.out], "produces 32-dimensional vectors but the index holds 384"),
    ("search-onnx-truncated", "search", lambda P: ["--index", P.pq, "--topics", P.test, "--encoder", P.onnx_trunc, "--output", P.out], "not a readable ONNX model"),
    ("search-encoded-dim", "search", lambda P: ["--index", P.pq, "--topics", P.test, "--encoded-queries", P.queries32, "--output", P.out], "32-dimensional queries but the index holds 384"),
    ("search-encoded-other-topics", "search", lambda P: ["--index", P.pq, "--topics", P.test, "--encoded-queries", P.queries_other, "--output", P.out], "24 queries of --topics"),
    ("search-encoded-no-pkl", "search", lambda P: ["--index", P.pq, "--topics", P.test, "--encoded-queries", f"{P.root}/nonempty", "--output", P.out], "no embedding.pkl"),
    ("search-encoded-code", "search", lambda P: ["--index", P.pq, "--topics", P.test, "--encoded-queries", P.queries_evil, "--output", P.out], "it names posix.mkdir"),
    ("search-encoded-a-list", "search", lambda P: ["--index", P.pq, "--topics", P.test, "--encoded-queries", P.queries_list, "--output", P.out], "a pickled list, not a pandas DataFrame"),
    ("search-encoded-not-pickle", "search", lambda P: ["--index", P.pq, "--topics", P.test, "--encoded-queries", P.queries_bad, "--output", P.out], "not Pyserini's encoded-queries frame"),
    # ---------------------------------------------------------------- export-onnx, encode-queries
    ("export-onnx-missing-encoder", "export-onnx", lambda P: ["--encoder", f"{P.root}/nomodel", "--output", P.out], "no such model"),
    ("export-onnx-truncated-encoder", "export-onnx", lambda P: ["--encoder", P.model_trunc, "--output", P.out], "damaged or truncated"),
    ("export-onnx-nonempty-output", "export-onnx", lambda P: ["--output", f"{P.root}/nonempty"], "not empty"),
    ("export-onnx-output-is-encoder", "export-onnx", lambda P: ["--encoder", P.model_trunc, "--output", P.model_trunc, "--overwrite"], "overlaps --encoder"),
    ("export-onnx-unwritable", "export-onnx", lambda P: ["--output", "/proc/jpq/onnx"], "cannot write"),
    ("encode-queries-unknown-topics", "encode-queries", lambda P: ["--topics", "no-such-topics", "--output", P.out], "unknown topics"),
    ("encode-queries-empty-topics", "encode-queries", lambda P: ["--topics", f"{P.root}/topics_empty.tsv", "--output", P.out], "empty file"),
    ("encode-queries-nonempty-output", "encode-queries", lambda P: ["--topics", P.test, "--output", f"{P.root}/nonempty"], "not empty"),
    ("encode-queries-truncated-onnx", "encode-queries", lambda P: ["--topics", P.test, "--encoder", P.onnx_trunc, "--output", P.out], "not a readable ONNX model"),
    ("encode-queries-batch-0", "encode-queries", lambda P: ["--topics", P.test, "--output", P.out, "--batch-size", "0"], "--batch-size"),
    # ---------------------------------------------------------------- bm25
    ("bm25-hits-0", "bm25", lambda P: ["--corpus", P.beir, "--topics", P.test, "--output", P.out, "--hits", "0"], "--hits"),
    ("bm25-hits-neg", "bm25", lambda P: ["--corpus", P.beir, "--topics", P.test, "--output", P.out, "--hits", "-1"], "--hits"),
    ("bm25-k1-neg", "bm25", lambda P: ["--corpus", P.beir, "--topics", P.test, "--output", P.out, "--k1", "-1"], "--k1"),
    ("bm25-b-2", "bm25", lambda P: ["--corpus", P.beir, "--topics", P.test, "--output", P.out, "--b", "2"], "--b"),
    ("bm25-threads-0", "bm25", lambda P: ["--corpus", P.beir, "--topics", P.test, "--output", P.out, "--threads", "0"], "--threads"),
    ("bm25-batch-0", "bm25", lambda P: ["--corpus", P.beir, "--topics", P.test, "--output", P.out, "--batch-size", "0"], "--batch-size"),
    ("bm25-truncated-corpus", "bm25", lambda P: ["--corpus", P.corpus_trunc, "--topics", P.test, "--output", P.out], "--corpus"),
    ("bm25-latin1-corpus", "bm25", lambda P: ["--corpus", P.corpus_latin1, "--topics", P.test, "--output", P.out], "--corpus"),
    ("bm25-unknown-corpus", "bm25", lambda P: ["--corpus", "no-such-id", "--topics", P.test, "--output", P.out], "--corpus no-such-id"),
    ("bm25-unknown-topics", "bm25", lambda P: ["--corpus", P.beir, "--topics", "no-such-topics", "--output", P.out], "unknown topics"),
    ("bm25-latin1-topics", "bm25", lambda P: ["--corpus", P.beir, "--topics", f"{P.root}/topics_latin1.tsv", "--output", P.out], "not UTF-8"),
    ("bm25-empty-topics", "bm25", lambda P: ["--corpus", P.beir, "--topics", f"{P.root}/topics_empty.tsv", "--output", P.out], "empty file"),
    ("bm25-output-is-dir", "bm25", lambda P: ["--corpus", P.beir, "--topics", P.test, "--output", P.root], "is a directory"),
    ("bm25-unwritable", "bm25", lambda P: ["--corpus", P.beir, "--topics", P.test, "--output", "/proc/jpq/run"], "cannot write"),
    ("bm25-format", "bm25", lambda P: ["--corpus", P.beir, "--topics", P.test, "--output", P.out, "--output-format", "csv"], "--output-format"),
    # ---------------------------------------------------------------- eval
    ("eval-stray-line", "eval", lambda P: ["--qrels", P.test, "--runs", f"{P.root}/run_stray"], "run_stray:"),
    ("eval-garbage-line", "eval", lambda P: ["--qrels", P.test, "--runs", f"{P.root}/run_garbage"], "run_garbage:"),
    ("eval-bad-score", "eval", lambda P: ["--qrels", P.test, "--runs", f"{P.root}/run_score"], "score 'high'"),
    ("eval-latin1-run", "eval", lambda P: ["--qrels", P.test, "--runs", f"{P.root}/run_latin1"], "not UTF-8"),
    ("eval-empty-run", "eval", lambda P: ["--qrels", P.test, "--runs", f"{P.root}/run_empty"], "empty run"),
    ("eval-dup-doc", "eval", lambda P: ["--qrels", P.test, "--runs", f"{P.root}/run_dup"], "appears twice"),
    ("eval-wrong-columns", "eval", lambda P: ["--qrels", P.test, "--runs", f"{P.root}/run_cols"], "run_cols:"),
    ("eval-msmarco-rank", "eval", lambda P: ["--qrels", P.test, "--runs", f"{P.root}/run_msmarco_rank"], "rank 'first'"),
    ("eval-missing-run", "eval", lambda P: ["--qrels", P.test, "--runs", f"{P.root}/nope"], "no such file"),
    ("eval-run-is-dir", "eval", lambda P: ["--qrels", P.test, "--runs", P.root], "is a directory"),
    ("eval-qrels-grade", "eval", lambda P: ["--qrels", f"{P.root}/qrels_high", "--runs", f"{P.root}/run"], "grade 'high'"),
    ("eval-qrels-latin1", "eval", lambda P: ["--qrels", f"{P.root}/qrels_latin1", "--runs", f"{P.root}/run"], "not UTF-8"),
    ("eval-qrels-missing", "eval", lambda P: ["--qrels", f"{P.root}/nope/qrels.txt", "--runs", f"{P.root}/run"], "no such file"),
    ("eval-qrels-columns", "eval", lambda P: ["--qrels", f"{P.root}/qrels_cols", "--runs", f"{P.root}/run"], "expected TREC qrels"),
    ("eval-qrels-no-judgements", "eval", lambda P: ["--qrels", f"{P.root}/noqrels", "--runs", f"{P.root}/run"], "has no qrels"),
    ("eval-no-overlap", "eval", lambda P: ["--qrels", f"{P.root}/qrels", "--runs", f"{P.root}/run_other"], "none of its 1 query ids"),
    ("eval-unwritable", "eval", lambda P: ["--qrels", P.test, "--runs", f"{P.root}/run", "--output", "/proc/jpq/t.md"], "cannot write"),
    ("eval-metric", "eval", lambda P: ["--qrels", P.test, "--runs", f"{P.root}/run", "--metrics", "bogus@3"], "--metrics bogus@3"),
    ("eval-metric-k", "eval", lambda P: ["--qrels", P.test, "--runs", f"{P.root}/run", "--metrics", "ndcg@x"], "--metrics ndcg@x"),
    ("eval-names", "eval", lambda P: ["--qrels", P.test, "--runs", f"{P.root}/run", "--names", "a", "b"], "--names"),
    ("eval-stat-test", "eval", lambda P: ["--qrels", P.test, "--runs", f"{P.root}/run", "--stat-test", "z"], "--stat-test"),
    ("eval-output-is-dir", "eval", lambda P: ["--qrels", P.test, "--runs", f"{P.root}/run", "--output", P.root], "is a directory"),
    # ---------------------------------------------------------------- validate
    ("validate-missing", "validate", lambda P: ["--run", f"{P.root}/nope"], "no such file"),
    ("validate-latin1", "validate", lambda P: ["--run", f"{P.root}/run_latin1"], "not UTF-8"),
    ("validate-unknown-topics", "validate", lambda P: ["--run", f"{P.root}/run", "--topics", "no-such-id"], "--topics no-such-id"),
    ("validate-no-run", "validate", lambda P: [], "--run"),
    # ---------------------------------------------------------------- submit
    ("submit-hits-0", "submit", lambda P: ["--dev-run", f"{P.root}/run", "--eval-run", f"{P.root}/run", "--dev-topics", P.test, "--eval-topics", P.test, "--team", "t", "--description", "d", "--output", P.out, "--hits", "0"], "--hits"),
    ("submit-hits-neg", "submit", lambda P: ["--dev-run", f"{P.root}/run", "--eval-run", f"{P.root}/run", "--dev-topics", P.test, "--eval-topics", P.test, "--team", "t", "--description", "d", "--output", P.out, "--hits", "-5"], "--hits"),
    ("submit-bad-dev-run", "submit", lambda P: ["--dev-run", f"{P.root}/run_garbage", "--eval-run", f"{P.root}/run", "--dev-topics", P.test, "--eval-topics", P.test, "--team", "t", "--description", "d", "--output", P.out], "--dev-run"),
    ("submit-latin1-eval-run", "submit", lambda P: ["--dev-run", f"{P.root}/run", "--eval-run", f"{P.root}/run_latin1", "--dev-topics", P.test, "--eval-topics", P.test, "--team", "t", "--description", "d", "--output", P.out], "--eval-run"),
    ("submit-missing-run", "submit", lambda P: ["--dev-run", f"{P.root}/nope", "--eval-run", f"{P.root}/run", "--dev-topics", P.test, "--eval-topics", P.test, "--team", "t", "--description", "d", "--output", P.out], "--dev-run"),
    ("submit-unknown-topics", "submit", lambda P: ["--dev-run", f"{P.root}/run", "--eval-run", f"{P.root}/run", "--dev-topics", "no-such-id", "--eval-topics", P.test, "--team", "t", "--description", "d", "--output", P.out], "--dev-topics"),
    ("submit-missing-queries", "submit", lambda P: ["--dev-run", f"{P.root}/run", "--eval-run", f"{P.root}/run", "--dev-topics", "jpq-pyserini/scifact/test", "--eval-topics", P.test, "--team", "t", "--description", "d", "--output", P.out], "have no results"),
    ("submit-nonempty-output", "submit", lambda P: ["--dev-run", f"{P.root}/run", "--eval-run", f"{P.root}/run", "--dev-topics", P.test, "--eval-topics", P.test, "--team", "t", "--description", "d", "--output", f"{P.root}/nonempty"], "not empty"),
    ("submit-unwritable", "submit", lambda P: ["--dev-run", f"{P.root}/run", "--eval-run", f"{P.root}/run", "--dev-topics", P.test, "--eval-topics", P.test, "--team", "t", "--description", "d", "--output", "/proc/jpq/pkg"], "cannot write"),
    ("submit-no-team", "submit", lambda P: ["--dev-run", f"{P.root}/run", "--eval-run", f"{P.root}/run", "--dev-topics", P.test, "--eval-topics", P.test, "--description", "d", "--output", P.out], "--team"),
    # ---------------------------------------------------------------- train
    *[(f"train-{flag[2:]}-{value}", "train", (lambda flag, value: lambda P: [
        "--index", P.pq, "--train", f"{P.beir}/train", "--dev", P.test, "--output", P.out, flag, value])(flag, value), flag)
      for flag, value in [("--epochs", "-2"), ("--epochs", "0"), ("--batch-size", "-4"), ("--batch-size", "0"),
                          ("--lr", "-1e-3"), ("--lr", "nan"), ("--lr", "inf"), ("--centroid-lr", "-1"),
                          ("--temperature", "0"), ("--neg-topk", "0"), ("--lambda-cut", "-1"),
                          ("--warmup-steps", "-1"), ("--patience", "-1"), ("--backoff", "1.5"),
                          ("--backoff-margin", "-0.1"), ("--dropout", "1"), ("--clip", "0"),
                          ("--weight-decay", "nan"), ("--query-max-length", "0"), ("--save-steps", "-1"),
                          ("--threads", "0"), ("--loss", "hinge"), ("--negatives", "none"), ("--target", "ivf"),
                          ("--positives", "some"), ("--seed", "x"), ("--mining", "gpu"),
                          ("--mining-threshold", "0"), ("--mining-threshold", "1.5"), ("--head-lr", "-1"),
                          ("--head-lr", "nan"), ("--query-head", "mlp")]],
    ("train-nothing-to-train", "train", lambda P: ["--index", P.pq, "--train", f"{P.beir}/train", "--dev", P.test,
                                                   "--output", P.out, "--query-head", "none",
                                                   "--no-centroid-training"], "nothing to train"),
    ("train-flat-index", "train", lambda P: ["--index", P.flat, "--dev", P.test, "--output", P.out], "a flat index"),
    ("train-no-qrels", "train", lambda P: ["--index", P.pq, "--train", f"{P.root}/noqrels", "--dev", P.test, "--output", P.out], "has no qrels"),
    ("train-wrong-corpus", "train", lambda P: ["--index", P.pq, "--train", "jpq-pyserini/scifact/train", "--dev", P.test, "--output", P.out], "not in the index"),
    ("train-unknown-dev", "train", lambda P: ["--index", P.pq, "--train", f"{P.beir}/train", "--dev", "no-such-id", "--output", P.out], "--dev no-such-id"),
    ("train-same-train-dev", "train", lambda P: ["--index", P.pq, "--train", P.test, "--dev", P.test, "--output", P.out], "share queries"),
    ("train-missing-index", "train", lambda P: ["--index", f"{P.root}/nope", "--dev", P.test, "--output", P.out], "no such index directory"),
    ("train-truncated-index", "train", lambda P: ["--index", P.pq_trunc, "--dev", P.test, "--output", P.out], "not a readable faiss index"),
    ("train-bad-meta", "train", lambda P: ["--index", P.pq_meta, "--dev", P.test, "--output", P.out], "meta.json:3:14"),
    ("train-encoder-truncated", "train", lambda P: ["--index", P.pq, "--train", f"{P.beir}/train", "--dev", P.test, "--output", P.out, "--encoder", P.model_trunc], "damaged or truncated"),
    ("train-encoder-missing", "train", lambda P: ["--index", P.pq, "--train", f"{P.beir}/train", "--dev", P.test, "--output", P.out, "--encoder", f"{P.root}/nomodel"], "no such model"),
    ("train-output-is-index", "train", lambda P: ["--index", P.pq, "--dev", P.test, "--output", P.pq, "--overwrite"], "overlaps --index"),
    ("train-output-inside-index", "train", lambda P: ["--index", P.pq, "--dev", P.test, "--output", f"{P.pq}/jpq"], "overlaps --index"),
    ("train-nonempty-output", "train", lambda P: ["--index", P.pq, "--dev", P.test, "--output", f"{P.root}/nonempty"], "not empty"),
    ("train-unwritable", "train", lambda P: ["--index", P.pq, "--dev", P.test, "--output", "/proc/jpq/out"], "cannot write"),
    ("train-resume-nothing", "train", lambda P: ["--index", P.pq, "--dev", P.test, "--output", f"{P.root}/nonempty", "--resume"], "no checkpoint"),
    ("train-resume-other-epochs", "train", lambda P: ["--index", P.pq, "--train", f"{P.beir}/train", "--dev", P.test, "--output", P.ckpt, "--resume", "--epochs", "3", "--batch-size", "8", "--neg-topk", "50"], "epochs=2 vs 3"),
    ("train-resume-bad-state", "train", lambda P: ["--index", P.pq, "--train", f"{P.beir}/train", "--dev", P.test, "--output", P.ckpt_state, "--resume", "--epochs", "2", "--batch-size", "8", "--neg-topk", "50"], "is damaged"),
    ("train-resume-bad-config", "train", lambda P: ["--index", P.pq, "--train", f"{P.beir}/train", "--dev", P.test, "--output", P.ckpt_config, "--resume", "--epochs", "2", "--batch-size", "8", "--neg-topk", "50"], "config.json:2:2"),
    ("train-resume-bad-weights", "train", lambda P: ["--index", P.pq, "--train", f"{P.beir}/train", "--dev", P.test, "--output", P.ckpt_weights, "--resume", "--epochs", "2", "--batch-size", "8", "--neg-topk", "50"], "weights.safetensors"),
    ("train-mse-flat", "train", lambda P: ["--index", P.flat, "--dev", P.test, "--output", P.out, "--loss", "mse", "--target", "flat"], "--loss mse"),
    ("train-bad-device", "train", lambda P: ["--index", P.pq, "--dev", P.test, "--output", P.out, "--device", "cuda:99"], "--device cuda:99"),
    # ---------------------------------------------------------------- reproduce
    ("reproduce-missing-spec", "reproduce", lambda P: [f"{P.root}/nope.yaml", "--output", P.out], "no such file"),
    ("reproduce-not-yaml", "reproduce", lambda P: [f"{P.root}/spec_notyaml.yaml", "--output", P.out], "not valid YAML"),
    ("reproduce-not-mapping", "reproduce", lambda P: [f"{P.root}/spec_list.yaml", "--output", P.out], "expected a mapping"),
    ("reproduce-bad-pq-m", "reproduce", lambda P: [f"{P.specs}/bad_m.yaml", "--output", P.out], "pq_m: 7"),
    ("reproduce-bad-main-m", "reproduce", lambda P: [f"{P.specs}/bad_main.yaml", "--output", P.out], "main_m 24"),
    ("reproduce-bad-ablation", "reproduce", lambda P: [f"{P.specs}/bad_ablation.yaml", "--output", P.out], "unknown ablation 'nope'"),
    ("reproduce-bad-metric", "reproduce", lambda P: [f"{P.specs}/bad_metric.yaml", "--output", P.out], "bogus@3"),
    ("reproduce-unknown-key", "reproduce", lambda P: [f"{P.specs}/bad_key.yaml", "--output", P.out], "unknown key 'colour'"),
    ("reproduce-bad-hits", "reproduce", lambda P: [f"{P.specs}/bad_hits.yaml", "--output", P.out], "hits 0"),
    ("reproduce-bad-expected", "reproduce", lambda P: [f"{P.specs}/bad_expected.yaml", "--output", P.out], "expected.bm25.ndcg@10"),
    ("reproduce-bad-init", "reproduce", lambda P: [f"{P.specs}/bad_init.yaml", "--output", P.out], "jpq_init"),
    ("reproduce-unknown-index", "reproduce", lambda P: [f"{P.specs}/bad_index.yaml", "--output", P.out], "unknown index recipe 'nope'"),
    ("reproduce-output-not-report", "reproduce", lambda P: [P.spec, "--output", f"{P.root}/nonempty"], "not a report dir"),
    ("reproduce-unwritable", "reproduce", lambda P: [P.spec, "--output", "/proc/jpq/report"], "cannot write"),
    # ---------------------------------------------------------------- trained models: codebooks, folded copies, heads
    ("index-codebook-dim", "index", lambda P: ["--input", P.flat, "--output", P.out, "--codebook", P.pq32], "32-dimensional model"),
    ("index-codebook-flat", "index", lambda P: ["--input", P.flat, "--output", P.out, "--codebook", P.flat], "a flat index dir"),
    ("index-codebook-missing", "index", lambda P: ["--input", P.flat, "--output", P.out, "--codebook", f"{P.root}/nope"], "--codebook"),
    ("index-codebook-folded", "index", lambda P: ["--input", P.flat, "--output", P.out, "--codebook", P.folded], "folded in"),
    ("index-codebook-and-pq-m", "index", lambda P: ["--input", P.flat, "--output", P.out, "--codebook", P.pq, "--pq-m", "8"], "--pq-m"),
    ("merge-folded", "merge", lambda P: ["--input", P.trained / "index", P.folded, "--output", P.out], "folded in"),
    ("merge-other-model", "merge", lambda P: ["--input", P.pq, P.trained / "index", "--output", P.out], "(centroids: not the same)"),
    ("merge-other-kind", "merge", lambda P: ["--input", P.pq, P.ivf, "--output", P.out], "(index kind: not the same)"),
    ("merge-flat-and-pq", "merge", lambda P: ["--input", P.flat, P.pq, "--output", P.out], "mixes flat and PQ"),
    ("train-folded", "train", lambda P: ["--index", P.folded, "--output", P.out, "--train", f"{P.beir}/train", "--dev", P.test],
     "folded in"),
    ("search-folded-with-head", "search", lambda P: ["--index", P.folded, "--encoder", P.trained / "encoder", "--topics", P.test,
                                                     "--output", f"{P.out}.run"], "folded in"),
    ("search-head-dim", "search", lambda P: ["--index", P.pq, "--encoder", P.head_bad, "--topics", P.test,
                                             "--output", f"{P.out}.run"], "query head maps 8 dimensions"),
    ("search-folded-prf", "search", lambda P: ["--index", P.folded, "--encoder", P.model, "--topics", P.test,
                                               "--output", f"{P.out}.run", "--prf-depth", "3"], "--prf-depth 3"),
    ("search-ivf-fast-scan-prf", "search", lambda P: ["--index", P.ivf_fs, "--encoder", P.model, "--topics", P.test,
                                                      "--output", f"{P.out}.run", "--prf-depth", "3"], "IVF fast-scan"),
    ("encode-with-query-encoder", "encode", lambda P: ["--corpus", P.beir, "--output", P.out, "--encoder", P.trained / "encoder"],
     "a JPQ query encoder"),
    ("fold-head-no-head", "fold-head", lambda P: ["--index", P.pq, "--encoder", P.model, "--output", P.out], "has no query head"),
    ("fold-head-folded", "fold-head", lambda P: ["--index", P.folded, "--output", P.out], "folded in"),
    ("fold-head-no-encoder", "fold-head", lambda P: ["--index", P.pq, "--output", P.out], "--encoder"),
    # ---------------------------------------------------------------- the console script
    ("cli-unknown-verb", None, lambda P: ["frobnicate"], None),
]


if not faiss_gpus():  # a bad input only where this faiss build has no GPU
    CASES.append(("train-mining-faiss-gpu", "train", lambda P: ["--index", P.pq, "--train", f"{P.beir}/train", "--dev", P.test,
                                                                "--output", P.out, "--mining", "faiss-gpu"], "--mining faiss-gpu"))


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, P, capsys):
    name, verb, argv, says = case
    argv = [str(a) for a in argv(P)]
    watched = [P.root, P.beir, P.flat, P.pq, P.onnx32]
    before = _state(*watched)
    capsys.readouterr()
    with pytest.raises(SystemExit) as ended:
        cli(([verb] if verb else []) + argv)
    err = capsys.readouterr().err
    assert ended.value.code == 2, f"exit {ended.value.code}:\n{err[-2000:]}"
    assert "Traceback" not in err, err[-2000:]
    if verb:
        lines = [l for l in err.splitlines() if l.startswith(f"jpq-pyserini {verb}: error:")]
        assert len(lines) == 1, err[-2000:]
        assert says in lines[0], lines[0]
    assert _state(*watched) == before, "files appeared, changed or vanished"
