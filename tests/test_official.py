"""datasets add: a local copy of an official collection checked against ir_datasets' own
checksums and put where ir_datasets reads it."""
import os
import subprocess
import sys
import zipfile

from ir_datasets.datasets.base import Dataset
from ir_datasets.datasets.beir import BeirDocs, BeirQrels, BeirQueries, BeirTitleDoc
from ir_datasets.formats import GenericQuery
from ir_datasets.util import ZipExtract
from ir_datasets.util.download import _DownloadConfig

from jpq_pyserini import official
from jpq_pyserini.fsutil import md5sum


def test_a_copy_that_differs_from_the_official_file_is_refused(tmp_path):
    home = tmp_path / "irds"
    fake = tmp_path / "nfcorpus.zip"
    fake.write_bytes(b"not the official archive")
    env = {**os.environ, "IR_DATASETS_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-m", "jpq_pyserini.datasets", "add", "beir/nfcorpus", str(fake)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 2, proc.stderr
    assert f"PATH {fake}: md5" in proc.stderr and "a89dba18a62ef92f7d323ec890a0d38d" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (home / "beir" / "nfcorpus").exists()
    proc = subprocess.run([sys.executable, "-m", "jpq_pyserini.datasets", "add", "no-such-collection/x", str(fake)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "records no downloads" in proc.stderr


def test_a_matching_copy_is_served_by_ir_datasets_offline(tiny_beir, tmp_path, monkeypatch):
    """The same path as a real collection, on a BEIR archive of the small slice whose record
    is written the way ir_datasets writes its own (url, expected_md5, cache_path)."""
    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "irds"))
    archive = tmp_path / "tiny.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
            z.write(tiny_beir / f, f"tiny/{f}")
    records = {"jpq-test": {"tiny": {"url": "https://example.invalid/tiny.zip", "expected_md5": md5sum(archive),
                                     "cache_path": "tiny/source.zip"}}}
    [(source, dest)] = official.add("jpq-test/tiny/test", archive, records)
    assert dest == tmp_path / "irds" / "jpq-test" / "tiny" / "source.zip" and dest.read_bytes() == archive.read_bytes()
    assert official.available(records) == [("jpq-test/tiny", dest)]
    dlc = _DownloadConfig(contents=records["jpq-test"], base_path=tmp_path / "irds" / "jpq-test")["tiny"]
    ds = Dataset(BeirDocs("tiny", ZipExtract(dlc, "tiny/corpus.jsonl"), BeirTitleDoc),  # as ir_datasets' BEIR
                 BeirQueries("tiny", ZipExtract(dlc, "tiny/queries.jsonl"), GenericQuery),
                 BeirQrels(ZipExtract(dlc, "tiny/qrels/test.tsv"), {}))
    assert sum(1 for _ in ds.docs_iter()) == sum(1 for _ in open(tiny_beir / "corpus.jsonl"))
    assert sum(1 for _ in ds.qrels_iter()) == sum(1 for _ in open(tiny_beir / "qrels" / "test.tsv")) - 1
    damaged = tmp_path / "tiny-copy.zip"
    damaged.write_bytes(archive.read_bytes()[:-10])
    try:
        official.add("jpq-test/tiny", damaged, records)
    except Exception as e:
        assert "no file matches the official downloads" in str(e)
    else:
        raise AssertionError("a damaged copy was accepted")
