"""Prebuilt packages: a real trained output packed, registered, resolved by name and searched."""
import json

import pytest

from conftest import run_cli
from jpq_pyserini.fsutil import md5sum
from jpq_pyserini.train import TrainConfig, train_jpq

NAME = "tiny-scifact.minilm.jpq16"


@pytest.fixture(scope="module")
def trained(pq_dir, tiny_beir, tmp_path_factory):
    out = tmp_path_factory.mktemp("pkg") / "trained"
    train_jpq(TrainConfig(index=str(pq_dir), output=str(out), train=str(tiny_beir / "train"),
                          dev=str(tiny_beir / "test"), epochs=1, batch_size=8, neg_topk=50))
    return out




def test_package_is_pyserinis_entry_and_searches_by_name(trained, tiny_beir, tmp_path):
    run_cli("jpq_pyserini.package", str(trained), "--name", NAME, "--output", str(tmp_path / "a"),
            "--topics", f"{tiny_beir}/test")
    tarball, entry_file = tmp_path / "a" / f"{NAME}.tar.gz", tmp_path / "a" / f"{NAME}.json"
    entry = json.loads(entry_file.read_text())[NAME]
    assert entry["md5"] == md5sum(tarball) and entry["size compressed (bytes)"] == tarball.stat().st_size
    assert entry["documents"] == sum(1 for _ in open(trained / "index" / "docid"))
    assert entry["urls"] == [tarball.resolve().as_uri()] and entry["filename"] == tarball.name
    assert 0 < entry["scores"][f"{tiny_beir}/test"]["ndcg@10"] <= 1
    run_cli("jpq_pyserini.package", str(trained), "--name", NAME, "--output", str(tmp_path / "b"))
    assert md5sum(tmp_path / "b" / f"{NAME}.tar.gz") == entry["md5"]  # the same model, the same bytes
    run_cli("jpq_pyserini.indexes", "add", str(entry_file))  # back to the copy with the scores

    def search(*index_args):
        out = tmp_path / f"run{len(list(tmp_path.glob('run*')))}.trec"
        run_cli("jpq_pyserini.search", *index_args, "--topics", f"{tiny_beir}/test", "--output", str(out),
                "--hits", "20")
        return out.read_bytes()

    by_name = search("--index", NAME)
    assert by_name == search("--index", str(trained / "index"), "--encoder", str(trained / "encoder"))
    listed = run_cli("jpq_pyserini.indexes").stdout
    assert NAME in listed and entry["md5"] in listed


def test_package_bad_input_is_one_line(trained, tiny_beir, tmp_path):
    def fails(*args, expect):
        proc = run_cli(*args, check=False)
        assert proc.returncode == 2, proc.stderr
        assert expect in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr

    out = tmp_path / "run.trec"
    search = ("jpq_pyserini.search", "--topics", f"{tiny_beir}/test", "--output", str(out))
    fails(*search, "--index", "no-such-package", expect="no registered package of that name")
    fails("jpq_pyserini.package", str(trained), "--name", "bad name", "--output", str(tmp_path), expect="--name")
    fails("jpq_pyserini.package", str(tiny_beir), "--name", "x", "--output", str(tmp_path),
          expect="expected a training output dir")
    run_cli("jpq_pyserini.package", str(trained), "--name", "damaged", "--output", str(tmp_path / "pkg"))
    tarball, entry_file = tmp_path / "pkg" / "damaged.tar.gz", tmp_path / "pkg" / "damaged.json"
    data = tarball.read_bytes()
    tarball.write_bytes(data[: len(data) // 2])
    fails(*search, "--index", "damaged", expect="has md5")  # the entry's md5 no longer matches
    entry = json.loads(entry_file.read_text())
    entry["damaged"]["md5"] = md5sum(tarball)  # an entry made from the damaged file: the unpack fails
    entry_file.write_text(json.dumps(entry))
    run_cli("jpq_pyserini.indexes", "add", str(entry_file))
    fails(*search, "--index", "damaged", expect="not unpacked")
    assert not out.exists()
