"""ONNX Runtime query encoders (export-onnx) and pre-encoded queries (encode-queries), through
Pyserini's real searcher on the tiny SciFact slice's real PQ index."""
import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from jpq_pyserini.encoder import DEFAULT_ENCODER, QUERY_MAX_LENGTH, TextEncoder
from jpq_pyserini.onnx_encoder import OnnxEncoder

QUERIES = ["0-dimensional biomaterials show inductive properties.",
           "ALDH1 expression is associated with poorer prognosis for breast cancer primary tumors.",
           "vitamin d", "What causes the common cold?"]


@pytest.fixture(scope="module")
def onnx_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx")
    for name, extra in (("float", []), ("int8", ["--int8"])):
        run_cli("jpq_pyserini.export_onnx", "--encoder", DEFAULT_ENCODER, "--output", str(root / name), *extra)
    return root


def _torch_vectors():
    encoder = TextEncoder(DEFAULT_ENCODER)
    encoder.config.max_length = QUERY_MAX_LENGTH
    return encoder.encode(QUERIES)


def test_onnx_float_equals_torch_and_int8_stays_close(onnx_dirs):
    reference = _torch_vectors()
    exact = OnnxEncoder(onnx_dirs / "float", threads=1)
    assert exact.config.max_length == QUERY_MAX_LENGTH and exact.dim == 384
    np.testing.assert_allclose(exact.encode(QUERIES, batch_size=3), reference, atol=1e-4)
    quantised = OnnxEncoder(onnx_dirs / "int8", threads=1)
    int8 = quantised.encode(QUERIES, batch_size=4)
    # dynamic int8 scales activations per call: a query's vector must not depend on its batch
    np.testing.assert_array_equal(int8[1:2], quantised.encode(QUERIES[1:2]))
    cosines = (int8 * reference).sum(1)
    assert cosines.min() > 0.95 and not np.allclose(int8, reference, atol=1e-3)  # really quantised
    assert (onnx_dirs / "int8" / "model.onnx").stat().st_size < 0.4 * (onnx_dirs / "float" / "model.onnx").stat().st_size


def test_onnx_padded_batches_give_torch_document_vectors(onnx_dirs):
    """The document path (benchmarks/encode_speed.py): length-sorted padded batches, masked
    mean pooling; with the padding of mixed lengths the vectors are still torch's."""
    texts = [t * k for k, t in enumerate(QUERIES * 2, start=1)]
    torch_encoder = TextEncoder(DEFAULT_ENCODER)
    reference = torch_encoder.encode(texts, batch_size=3, max_length=48)
    onnx = OnnxEncoder(onnx_dirs / "float", threads=1)
    np.testing.assert_allclose(onnx.encode(texts, batch_size=3, max_length=48, padded=True), reference, atol=1e-4)
    assert onnx.truncated == torch_encoder.truncated > 0


def test_search_with_onnx_encoder_and_encoded_queries(onnx_dirs, pq_dir, tiny_beir, tmp_path):
    """Pyserini's search command takes the ONNX dir as --encoder (float: the torch encoder's
    ranking), and pre-encoded queries give exactly the run of the encoder that wrote them."""
    topics = str(tiny_beir / "test")
    runs = {}
    for name, flags in [("torch", ["--encoder", DEFAULT_ENCODER]), ("float", ["--encoder", onnx_dirs / "float"]),
                        ("int8", ["--encoder", onnx_dirs / "int8"])]:
        runs[name] = tmp_path / f"run.{name}"
        run_cli("jpq_pyserini.search", "--index", str(pq_dir), *map(str, flags), "--topics", topics,
                "--output", str(runs[name]), "--hits", "20", "--batch-size", "8")
    top = {n: [l.split()[:3] for l in p.read_text().splitlines()] for n, p in runs.items()}
    assert len(top["torch"]) == 24 * 20
    assert top["float"] == top["torch"]
    by_query = {n: {} for n in top}
    for n, rows in top.items():
        for qid, _, docid in rows:
            by_query[n].setdefault(qid, []).append(docid)
    overlap = [len(set(d[:10]) & set(by_query["torch"][q][:10])) / 10 for q, d in by_query["int8"].items()]
    assert np.mean(overlap) > 0.8

    encoded = tmp_path / "queries"
    run_cli("jpq_pyserini.encode_queries", "--topics", topics, "--encoder", str(onnx_dirs / "int8"), "--output", str(encoded))
    frame = pd.read_pickle(encoded / "embedding.pkl")
    assert list(frame.columns) == ["id", "text", "embedding"] and len(frame) == 24
    run_cli("jpq_pyserini.search", "--index", str(pq_dir), "--encoded-queries", str(encoded), "--topics", topics,
            "--output", str(tmp_path / "run.pre"), "--hits", "20", "--batch-size", "8")
    assert (tmp_path / "run.pre").read_bytes() == runs["int8"].read_bytes()


def test_onnx_encoder_refuses_cuda(tiny_onnx):
    from jpq_pyserini.errors import UsageError
    from jpq_pyserini.query_encoder import JpqQueryEncoder
    with pytest.raises(UsageError, match="--device cuda: ONNX encoders run on the CPU"):
        JpqQueryEncoder(str(tiny_onnx), device="cuda")
    assert JpqQueryEncoder(str(tiny_onnx)).encode_batch(QUERIES).shape == (4, 32)
