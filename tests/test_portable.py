"""A trained JPQ model is one portable artifact: ``encoder/`` is the whole trained query side
(transformer and head), ``index/`` a plain (O)PQ index with the trained centroids, which
Pyserini's searcher, PRF, ``index --codebook``, ``merge`` and ``fold-head`` all take as they are.

Every index here is a real faiss OPQ index over the tiny SciFact slice's real MiniLM vectors
(OPQ is trained on the vectors plus a jittered copy: 300 documents are fewer than faiss's OPQ
needs), trained by ``train_jpq`` on real SciFact queries and searched through the CLI.
"""
import dataclasses

import faiss
import numpy as np
import pytest
import torch

from conftest import run_cli
from jpq_pyserini.codebook import PQCodebook, read_codes, split_index
from jpq_pyserini.datasets import iter_queries, load_dataset
from jpq_pyserini.encoder import QUERY_MAX_LENGTH, TextEncoder
from jpq_pyserini.indexdir import FOLDED, flat_vectors, read_index_dir, write_index_dir
from jpq_pyserini.query_head import HEAD_FILE, QueryHead
from jpq_pyserini.train import TrainConfig, train_jpq

KINDS = {"opq16": dict(m=16, nbits=8), "opq96x4-fast-scan": dict(m=96, nbits=4, fast_scan=True),
         "opq16-ivf8": dict(m=16, nbits=8, ivf=8, nprobe=8)}  # nprobe = every list: runs are exhaustive


def _opq_index_dir(flat_dir, out, m, nbits, fast_scan=False, ivf=0, nprobe=None):
    from faiss.contrib.inspect_tools import get_pq_centroids
    from jpq_pyserini.index import build_pq_index, pq_meta, quantize_with

    index, docids, meta = read_index_dir(flat_dir)
    v = flat_vectors(index)
    jitter = v + 0.01 * np.random.default_rng(0).standard_normal(v.shape).astype(np.float32)
    model = build_pq_index(np.concatenate([v, jitter]), m, nbits, True, fast_scan, ivf=ivf, nprobe=nprobe)
    out.mkdir(parents=True)
    index = quantize_with(model, get_pq_centroids(split_index(model)[1].pq), v)
    write_index_dir(out, index, docids, {**pq_meta(v.shape[1], m, nbits, True, fast_scan, meta, ivf, nprobe),
                                         "source_index": str(flat_dir)})
    return out


@pytest.fixture(scope="module")
def trained(flat_dir, tiny_beir, tmp_path_factory):
    """kind -> (untrained index dir, training output dir), built on first use."""
    root, done = tmp_path_factory.mktemp("portable"), {}

    def get(kind):
        if kind not in done:
            untrained = _opq_index_dir(flat_dir, root / kind / "untrained", **KINDS[kind])
            cfg = TrainConfig(index=str(untrained), output=str(root / kind / "out"), train=str(tiny_beir / "train"),
                              dev=str(tiny_beir / "test"), epochs=2, batch_size=8, neg_topk=50, centroid_lr=1e-3,
                              patience=0, backoff=0.0, mining="faiss" if "ivf" in kind else "auto")
            train_jpq(cfg, progress=False)
            done[kind] = (untrained, root / kind / "out")
        return done[kind]
    return get


def _queries(tiny_beir):
    pairs = list(iter_queries(load_dataset(str(tiny_beir / "test"))))
    return [q for q, _ in pairs], [t for _, t in pairs]


def _search(index, encoder, topics, out, *extra):
    run_cli("jpq_pyserini.search", "--index", str(index), "--encoder", str(encoder), "--topics", str(topics),
            "--output", str(out), "--hits", "20", *map(str, extra))
    return out


def _run(path):
    run = {}
    for line in path.read_text().splitlines():
        qid, _, docid, _, score, _ = line.split()
        run.setdefault(qid, []).append((docid, float(score)))
    return run


def _training_model(untrained, out):
    """What training scored with: the untrained index's codes and rotation, the dev-selected
    centroids and head of the best checkpoint, after the frozen source encoder."""
    from jpq_pyserini.checkpoint import read_weights
    best = read_weights(out / "checkpoints" / "best")
    codebook = PQCodebook.from_faiss(read_index_dir(untrained)[0])
    codebook.centroids.data.copy_(best["centroids"])
    head = QueryHead(codebook.dim)
    head.load_state_dict({k[len("head."):]: v for k, v in best.items() if k.startswith("head.")})
    source = TextEncoder(read_index_dir(untrained)[2]["encoder"])
    source.config.max_length = QUERY_MAX_LENGTH
    return codebook, head, source


def _lut_bound(codebook, q):
    """faiss's fast-scan ranks with lookup tables quantized to 8 bits on one scale for all M
    sub-spaces: each entry is off by at most half a step, a score by M half-steps."""
    with torch.no_grad():
        lut = codebook.lookup_tables(q)
    step = (lut.amax(-1) - lut.amin(-1)).amax(-1) / 255
    return (codebook.M * step / 2).numpy()


@pytest.mark.parametrize("kind", KINDS)
def test_encoder_dir_is_the_trained_query_side_and_runs_score_as_training(kind, trained, tiny_beir, tmp_path):
    from transformers import AutoModel
    from jpq_pyserini import JpqQueryEncoder

    untrained, out = trained(kind)
    codebook, head, source = _training_model(untrained, out)
    assert not torch.allclose(head.linear.weight, torch.eye(codebook.dim))  # the head trained
    assert (out / "encoder" / HEAD_FILE).is_file() and not (out / HEAD_FILE).exists()
    AutoModel.from_pretrained(out / "encoder")  # the transformer alone stays a Hugging Face model
    qids, texts = _queries(tiny_beir)
    with torch.no_grad():
        q = head(torch.as_tensor(source.encode(texts)))
    np.testing.assert_allclose(JpqQueryEncoder(str(out / "encoder")).encode_batch(texts), q.numpy(), atol=1e-6)

    index, docids, meta = read_index_dir(out / "index")
    assert meta["query_encoder"] == str(out / "encoder") and FOLDED not in meta
    assert split_index(index)[0] is not None  # the OPQ rotation alone: orthonormal, checked there
    row = {d: i for i, d in enumerate(docids)}
    run = _run(_search(out / "index", out / "encoder", tiny_beir / "test", tmp_path / "run"))
    assert len(run) == len(qids)
    for i, qid in enumerate(qids):
        rows = torch.as_tensor([[row[d] for d, _ in run[qid]]])
        with torch.no_grad():
            exact = codebook.score_pairs(q[i:i + 1], rows)[0].numpy()
        got = np.array([s for _, s in run[qid]])
        if "fast-scan" in kind:  # faiss's SIMD search: exact up to its 8-bit lookup tables
            assert np.abs(got - exact).max() <= _lut_bound(codebook, q[i:i + 1])[0] + 1e-5
        else:
            np.testing.assert_allclose(got, exact, atol=1e-4)
            assert [d for d, _ in run[qid]] == [docids[r] for r in codebook.score_all(q[i:i + 1])[0].topk(20).indices]


@pytest.mark.parametrize("method", ["avg", "rocchio"])
def test_prf_through_search_equals_prf_from_decoded_documents(method, trained, tiny_beir, tmp_path):
    """Pyserini's dense PRF reconstructs its feedback documents through faiss; on the plain index
    that is the PQ decoding of their codes, rotated back by the orthonormal OPQ matrix."""
    from jpq_pyserini import JpqQueryEncoder

    _, out = trained("opq16")
    run = _run(_search(out / "index", out / "encoder", tiny_beir / "test", tmp_path / "run",
                       "--prf-depth", "3", "--prf-method", method))
    index, docids, _ = read_index_dir(out / "index")
    codebook = PQCodebook.from_faiss(index)
    qids, texts = _queries(tiny_beir)
    q = JpqQueryEncoder(str(out / "encoder")).encode_batch(texts)
    _, top = index.search(q, 3)
    with torch.no_grad():
        decoded = (codebook.reconstruct(torch.as_tensor(top.ravel())) @ codebook.rotation).numpy().reshape(len(q), 3, -1)
    if method == "avg":
        new = np.concatenate([q[:, None], decoded], 1).mean(1)
    else:  # Pyserini's defaults: alpha 0.9, beta 0.1, top 3, no negatives
        new = 0.9 * q + 0.1 * decoded.mean(1)
    scores, rows = index.search(np.ascontiguousarray(new, dtype=np.float32), 20)
    for i, qid in enumerate(qids):
        assert [d for d, _ in run[qid]] == [docids[r] for r in rows[i]]
        np.testing.assert_allclose([s for _, s in run[qid]], scores[i], atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_index_with_codebook_and_shards_reproduce_the_trained_index(kind, trained, flat_dir, tiny_beir, tmp_path):
    """Re-indexing the training corpus with its trained model gives its very codes (faiss file
    byte for byte) and run; shards quantized with it and merged equal the one-shot index."""
    _, out = trained(kind)
    again = tmp_path / "again"
    run_cli("jpq_pyserini.index", "--input", str(flat_dir), "--output", str(again), "--codebook", str(out / "index"))
    assert (again / "index").read_bytes() == (out / "index" / "index").read_bytes()
    assert (again / "docid").read_bytes() == (out / "index" / "docid").read_bytes()
    assert (again / "assignment.safetensors").read_bytes() == (out / "index" / "assignment.safetensors").read_bytes()
    runs = [_search(d, out / "encoder", tiny_beir / "test", tmp_path / f"run{i}") for i, d in enumerate([out / "index", again])]
    assert runs[0].read_bytes() == runs[1].read_bytes()

    flat, docids, meta = read_index_dir(flat_dir)
    v, cut = flat_vectors(flat), 137  # not a multiple of fast-scan's 32-document blocks
    shards = []
    for i, (a, b) in enumerate([(0, cut), (cut, len(docids))]):
        part = faiss.IndexFlatIP(flat.d)
        part.add(v[a:b])
        (tmp_path / f"flat{i}").mkdir()
        write_index_dir(tmp_path / f"flat{i}", part, docids[a:b], {**meta, "shard_id": i, "shard_num": 2})
        run_cli("jpq_pyserini.index", "--input", str(tmp_path / f"flat{i}"), "--output", str(tmp_path / f"pq{i}"),
                "--codebook", str(out / "index"))
        shards.append(str(tmp_path / f"pq{i}"))
    run_cli("jpq_pyserini.merge", "--input", *shards[::-1], "--output", str(tmp_path / "merged"))  # shard ids order them
    merged, one_shot = tmp_path / "merged", again
    assert (merged / "docid").read_bytes() == (one_shot / "docid").read_bytes()
    if "fast-scan" in kind:
        # faiss leaves the unused slots of a SIMD block as they fall: compare every code instead
        indexes = [read_index_dir(d)[0] for d in (merged, one_shot)]  # alive while their inner views are read
        codes = [read_codes(split_index(index)[1]) for index in indexes]
        np.testing.assert_array_equal(codes[0], codes[1])
    else:
        assert (merged / "index").read_bytes() == (one_shot / "index").read_bytes()
    merged_run = _search(merged, out / "encoder", tiny_beir / "test", tmp_path / "run-merged")
    assert merged_run.read_bytes() == runs[1].read_bytes()


def test_fold_head_copy_serves_stock_pyserini(trained, tiny_beir, tmp_path):
    """fold-head: stock Pyserini (FaissSearcher with its AutoQueryEncoder over the transformer)
    ranks the copy as the plugin ranks the plain index; the copy says what it is, and read by
    the plugin, faiss refuses to reconstruct through it instead of returning wrong vectors."""
    from pyserini.encode import AutoQueryEncoder
    from pyserini.search.faiss import FaissSearcher
    from jpq_pyserini import JpqQueryEncoder

    _, out = trained("opq16")
    folded = tmp_path / "folded"
    run_cli("jpq_pyserini.fold_head", "--index", str(out / "index"), "--output", str(folded))
    index, docids, meta = read_index_dir(folded)
    assert meta[FOLDED]["index"] == str(out / "index") and "query_encoder" not in meta
    qids, texts = _queries(tiny_beir)
    jpq = JpqQueryEncoder(str(out / "encoder"))
    short = [i for i, t in enumerate(texts) if len(jpq.encoder.tokenizer(t)["input_ids"]) <= QUERY_MAX_LENGTH]
    assert len(short) > 10
    plugin = FaissSearcher(str(out / "index"), jpq).batch_search([texts[i] for i in short], [qids[i] for i in short], k=10)
    stock = FaissSearcher(str(folded), AutoQueryEncoder(str(out / "encoder"), pooling="mean", l2_norm=True))
    for i in short:
        hits = stock.search(texts[i], k=10)
        assert [h.docid for h in hits] == [h.docid for h in plugin[qids[i]]]
    with pytest.raises(RuntimeError, match="non-orthonorm"):
        index.search_and_reconstruct(jpq.encode_batch(texts[:1]), 3)


def test_onnx_export_and_encoded_queries_carry_the_head(trained, tiny_beir, tmp_path):
    import pandas as pd
    from jpq_pyserini import JpqQueryEncoder
    from jpq_pyserini.onnx_encoder import OnnxEncoder

    _, out = trained("opq16")
    run_cli("jpq_pyserini.export_onnx", "--encoder", str(out / "encoder"), "--output", str(tmp_path / "onnx"))
    assert (tmp_path / "onnx" / HEAD_FILE).is_file()
    qids, texts = _queries(tiny_beir)
    expected = JpqQueryEncoder(str(out / "encoder")).encode_batch(texts)
    np.testing.assert_allclose(OnnxEncoder(tmp_path / "onnx", threads=1).encode(texts), expected, atol=1e-4)
    run_cli("jpq_pyserini.encode_queries", "--topics", str(tiny_beir / "test"), "--encoder", str(out / "encoder"),
            "--output", str(tmp_path / "queries"))
    frame = pd.read_pickle(tmp_path / "queries" / "embedding.pkl").set_index("id")
    np.testing.assert_allclose(np.stack([frame.loc[q, "embedding"] for q in qids]), expected, atol=1e-5)
    runs = [_run(_search(out / "index", enc, tiny_beir / "test", tmp_path / f"run{i}"))
            for i, enc in enumerate([out / "encoder", tmp_path / "onnx"])]
    assert {q: [d for d, _ in r] for q, r in runs[0].items()} == {q: [d for d, _ in r] for q, r in runs[1].items()}


def test_retraining_a_trained_output_continues_its_head(trained, tiny_beir, tmp_path):
    """train --index OUT/index starts from OUT/encoder (its head included), not from the
    untrained encoder with a fresh head stacked on the old one."""
    _, out = trained("opq16")
    cfg = TrainConfig(index=str(out / "index"), output=str(tmp_path / "again"), train=str(tiny_beir / "train"),
                      dev=str(tiny_beir / "test"), epochs=1, batch_size=8, neg_topk=50, head_lr=0.0, centroid_lr=0.0)
    summary = train_jpq(cfg, progress=False)
    start = read_index_dir(out / "index")[2]["train"]["dev_ndcg@10"]
    assert summary["dev_ndcg@10_start"] == pytest.approx(start, abs=1e-4)
    head = QueryHead.load(tmp_path / "again" / "encoder" / HEAD_FILE)
    torch.testing.assert_close(head.linear.weight, QueryHead.load(out / "encoder" / HEAD_FILE).linear.weight)
    assert dataclasses.asdict(TextEncoder(str(tmp_path / "again" / "encoder")).config)["head"] == HEAD_FILE
