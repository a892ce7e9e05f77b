"""Every collection format, read by ir_datasets' format classes: the same small real collection
written in each gives the same documents, queries and qrels, and byte-identical runs."""
import importlib.util
from pathlib import Path

import pytest

from conftest import run_cli
from jpq_pyserini.encoder import DEFAULT_ENCODER
from jpq_pyserini.datasets import doc_text, iter_queries, load_dataset, load_qrels
from jpq_pyserini.errors import UsageError

spec = importlib.util.spec_from_file_location("formats_eval", Path(__file__).parents[1] / "eval" / "formats.py")
formats_eval = importlib.util.module_from_spec(spec)
spec.loader.exec_module(formats_eval)


@pytest.fixture(scope="module")
def written(tiny_beir, tmp_path_factory):
    root = tmp_path_factory.mktemp("formats")
    docs, queries, qrels = formats_eval.read_source(str(tiny_beir))
    for fmt in formats_eval.FORMATS:
        formats_eval.write(fmt, root / fmt, docs, queries, qrels)
    return root


@pytest.mark.parametrize("fmt", formats_eval.FORMATS[1:])
def test_each_format_reads_as_the_beir_folder(written, fmt):
    beir, other = load_dataset(str(written / "beir")), load_dataset(str(written / fmt))
    assert [(d.doc_id, doc_text(d).split()) for d in other.docs_iter()] == \
           [(d.doc_id, doc_text(d).split()) for d in beir.docs_iter()]
    for split in ("train", "test", "train/dev"):
        a, b = load_dataset(f"{written / 'beir'}/{split}"), load_dataset(f"{written / fmt}/{split}")
        assert sorted(iter_queries(b)) == sorted(iter_queries(a))
        assert load_qrels(b) == load_qrels(a)


def test_single_files_of_each_kind(written):
    assert [q for q, _ in iter_queries(load_dataset(str(written / "trec" / "topics.test.txt")))] == \
           [q for q, _ in iter_queries(load_dataset(str(written / "smart" / "queries.test.qry")))]
    assert load_qrels(load_dataset(str(written / "smart" / "qrels.test.rel"))) == \
           load_qrels(load_dataset(str(written / "msmarco" / "qrels.test.tsv")))
    assert load_dataset(str(written / "trec" / "docs.trec.gz")).docs_store().count() == \
           load_dataset(str(written / "beir")).docs_store().count()


def test_bm25_runs_are_byte_identical_in_every_format(written, tmp_path):
    runs = {}
    for fmt in formats_eval.FORMATS:
        folder, out = written / fmt, tmp_path / f"{fmt}.trec"
        run_cli("jpq_pyserini.bm25", "--corpus", str(folder), "--topics", f"{folder}/test", "--output", str(out))
        runs[fmt] = out.read_bytes()
    assert all(r == runs["beir"] for r in runs.values())


@pytest.mark.slow
def test_pq_runs_are_byte_identical_in_every_format(written, pq_dir, tmp_path):
    """Each format's documents encoded and quantized with one codebook, then searched."""
    runs = {}
    for fmt in formats_eval.FORMATS:
        folder, out = written / fmt, tmp_path / fmt
        run_cli("jpq_pyserini.encode", "--corpus", str(folder), "--output", str(out / "flat"), "--max-length", "64")
        run_cli("jpq_pyserini.index", "--input", str(out / "flat"), "--output", str(out / "pq"), "--codebook", str(pq_dir))
        run_cli("jpq_pyserini.search", "--index", str(out / "pq"), "--encoder", DEFAULT_ENCODER, "--topics",
                str(folder / "topics.test.txt") if fmt == "trec" else f"{folder}/test", "--output", str(out / "pq.trec"),
                "--hits", "50")
        runs[fmt] = (out / "pq.trec").read_bytes()
    assert all(r == runs["beir"] for r in runs.values())


def test_bad_files_name_themselves(written, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "corpus.jsonl").write_text('{"_id": "1", "title": "", "text": "x"}\n{not json\n')
    proc = run_cli("jpq_pyserini.bm25", "--corpus", str(bad), "--topics", f"{written / 'trec'}/test",
                   "--output", str(tmp_path / "r.trec"), check=False)
    last = proc.stderr.strip().splitlines()[-1]  # above it, ir_datasets' own log of the store it began
    assert proc.returncode == 2 and last.startswith(f"jpq-pyserini bm25: error: --corpus {bad}: malformed file")
    assert not (tmp_path / "r.trec").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="not a collection folder"):
        load_dataset(str(tmp_path / "empty"))
    (bad / "topics.txt").write_text("<top>\n<num> Number: 1\n</top>\n")  # a topic without its title
    proc = run_cli("jpq_pyserini.bm25", "--corpus", str(written / "trec"), "--topics", str(bad / "topics.txt"),
                   "--output", str(tmp_path / "r.trec"), check=False)
    assert proc.returncode == 2 and "topics.txt" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
