"""Ctrl-C, SIGTERM, a full disk and a second writer lose nothing: a real signal sent to a real command at a
chosen point, or a real file-size limit (RLIMIT_FSIZE) under which its writes fail, ends with
one line and the shell's exit code; the previous output is as it was and no temporary file
is left; an interrupted train resumes."""
import json
import os
import resource
import signal
import subprocess
import sys
import time

import pytest

from conftest import run_cli
from test_kills import SIGNAL_AT_REPLACE, leftovers, tree  # the signal: just before the nth rename onto NAME

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
def _default_signals(limit=None):
    """The child's dispositions as a user's shell leaves them (a test runner may ignore SIGINT),
    and, with ``limit``, a file-size limit whose writes fail with EFBIG instead of killing."""
    def setup():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return setup


def run(verb, *argv, hook="", limit=None, env=None):
    code = hook + f"\nfrom jpq_pyserini.cli import main\nmain({[verb, *map(str, argv)]!r})\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=_default_signals(limit),
                          env={**os.environ, "TQDM_DISABLE": "1", **(env or {})})


def _one_line(proc, verb, says):
    lines = [l for l in proc.stderr.splitlines() if f"jpq-pyserini {verb}:" in l]  # maybe after a progress bar
    assert len(lines) == 1 and says in lines[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]


def _cases(flat_dir, pq_dir, tiny_beir):
    """verb -> its arguments but --output."""
    return {
        "encode": ["--corpus", tiny_beir, "--max-length", "32"],
        "index": ["--input", flat_dir, "--pq-m", "16", "--no-opq"],
        "merge": ["--input", flat_dir],
        "search": ["--index", pq_dir, "--encoder", MODEL, "--topics", tiny_beir / "test", "--hits", "1000"],
        "train": ["--index", pq_dir, "--train", tiny_beir / "train", "--dev", tiny_beir / "test", "--epochs", "3",
                  "--batch-size", "8", "--neg-topk", "50"],
    }


@pytest.mark.parametrize("verb,sig", [("encode", signal.SIGINT), ("index", signal.SIGTERM), ("merge", signal.SIGINT),
                                      ("search", signal.SIGTERM), ("search", signal.SIGINT)])
def test_interrupt_leaves_the_previous_output_and_no_temporary_files(verb, sig, flat_dir, pq_dir, tiny_beir, tmp_path):
    argv = _cases(flat_dir, pq_dir, tiny_beir)[verb]
    out = tmp_path / ("run.trec" if verb == "search" else "out")
    run_cli(f"jpq_pyserini.{verb.replace('-', '_')}", *map(str, argv), "--output", str(out))  # the previous output
    before = tree(out) if out.is_dir() else out.read_bytes()
    proc = run(verb, *argv, "--output", out, *([] if verb == "search" else ["--overwrite"]),
               hook=SIGNAL_AT_REPLACE.format(name=out.name, nth=1, sig=int(sig)))
    assert proc.returncode == (130 if sig == signal.SIGINT else 143), proc.stderr[-2000:]
    _one_line(proc, verb, f"interrupted: {out} left as it was")
    assert (tree(out) if out.is_dir() else out.read_bytes()) == before
    assert leftovers(tmp_path) == []


def test_interrupted_reproduce_keeps_the_previous_report_and_no_half_artifact(tiny_beir, tmp_path):
    """SIGINT as reproduce's first artifact (the encoded corpus) takes its name in the cache."""
    from test_reproduce import _write_spec

    hook = SIGNAL_AT_REPLACE.replace("os.path.basename(str(dst)) == {name!r}", "os.path.basename(os.path.dirname(str(dst))) == {name!r}")
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.md").write_text("the previous report\n")
    cache = tmp_path / "cache"
    proc = run("reproduce", _write_spec(tmp_path, tiny_beir, {}), "--output", report, env={"JPQ_PYSERINI_CACHE": str(cache)},
               hook=hook.format(name="artifacts", nth=1, sig=int(signal.SIGINT)))
    assert proc.returncode == 130, proc.stderr[-2000:]
    _one_line(proc, "reproduce", f"interrupted: {report} left as it was")
    assert (report / "report.md").read_text() == "the previous report\n" and len(list(report.iterdir())) == 1
    assert list((cache / "artifacts").iterdir()) == [] and leftovers(tmp_path) == []


def test_interrupted_train_resumes(pq_dir, tiny_beir, tmp_path):
    """SIGINT as the second epoch's checkpoint is saved: the first one stays, --resume finishes."""
    out = tmp_path / "jpq"
    argv = [*_cases(None, pq_dir, tiny_beir)["train"], "--output", out]
    proc = run("train", *argv, hook=SIGNAL_AT_REPLACE.format(name="last", nth=2, sig=int(signal.SIGINT)))
    assert proc.returncode == 130, proc.stderr[-2000:]
    _one_line(proc, "train", f"interrupted: {out} left as it was")
    assert (out / "checkpoints" / "last" / "state.pt").is_file() and leftovers(out / "checkpoints") == []
    run_cli("jpq_pyserini.train", *map(str, argv), "--resume")
    summary = json.loads((out / "train_summary.json").read_text())  # both stages of --fine-tune auto
    assert summary["fine_tune"]["head_stage"]["epochs_run"] == 3 and (out / "index" / "index").is_file()
    assert summary["steps"] == 3 * (3 + summary["fine_tune"]["fine_tune_stage"]["epochs_run"])


def test_full_disk_leaves_the_previous_output_and_says_so(flat_dir, pq_dir, tiny_beir, tmp_path):
    """Every verb that writes, under a 20 kB file-size limit (each output is larger)."""
    one_epoch = ["--index", pq_dir, "--train", tiny_beir / "train", "--dev", tiny_beir / "test", "--epochs", "1",
                 "--batch-size", "8", "--neg-topk", "50"]
    trained = tmp_path / "trained"
    run_cli("jpq_pyserini.train", *map(str, one_epoch), "--output", str(trained))
    run_file = tmp_path / "a.trec"
    run_cli("jpq_pyserini.search", "--index", str(pq_dir), "--encoder", MODEL, "--topics", str(tiny_beir / "test"),
            "--hits", "100", "--output", str(run_file))
    from test_reproduce import _write_spec
    cases = {**_cases(flat_dir, pq_dir, tiny_beir), "train": one_epoch,
             "fold-head": ["--index", trained / "index"],
             "export-onnx": ["--encoder", trained / "encoder"],
             "encode-queries": ["--topics", tiny_beir / "test", "--encoder", trained / "encoder"],
             "index --codebook": ["--input", flat_dir, "--codebook", trained / "index"],
             "bm25": ["--corpus", tiny_beir, "--topics", tiny_beir / "test", "--hits", "1000"],
             "eval": ["--qrels", tiny_beir / "test", "--runs", run_file],
             "submit": ["--dev-run", run_file, "--eval-run", run_file, "--dev-topics", tiny_beir / "test",
                        "--eval-topics", tiny_beir / "test", "--team", "t", "--description", "d"],
             "reproduce": [_write_spec(tmp_path, tiny_beir, {})]}
    limits = {"eval": 100}  # its table is a few hundred bytes; every other output is over 20 kB
    for name, argv in cases.items():
        verb = name.split()[0]
        file_output = verb in ("search", "bm25", "eval")
        out = tmp_path / f"{name.replace(' ', '')}-out" / ("run.trec" if file_output else "out")
        out.parent.mkdir()
        if file_output:
            out.write_text("the previous run\n")
        else:
            out.mkdir()
            (out / ("report.md" if verb == "reproduce" else "kept")).write_text("the previous output\n")
        before = tree(out.parent)
        overwrite = [] if file_output or verb == "reproduce" else ["--overwrite"]
        proc = run(verb, *argv, "--output", out, *overwrite, limit=limits.get(verb, 20_000))
        assert proc.returncode == 2, (name, proc.returncode, proc.stderr[-2000:])
        _one_line(proc, verb, f"error: {out}: not written")
        assert tree(out.parent) == before, name
        assert leftovers(out.parent) == [], name


def test_one_writer_per_output_and_a_stale_lock_is_taken_over(flat_dir, pq_dir, tiny_beir, tmp_path):
    out = tmp_path / "jpq"
    lock = tmp_path / ".jpq.lock"
    first = subprocess.Popen([sys.executable, "-m", "jpq_pyserini.train", *map(str, _cases(None, pq_dir, tiny_beir)["train"]),
                              "--output", str(out)], stderr=subprocess.PIPE, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
    try:
        for _ in range(600):
            if lock.exists() or first.poll() is not None:
                break
            time.sleep(0.1)
        assert lock.exists(), "the first writer never locked its output"
        second = run("index", "--input", flat_dir, "--output", out, "--pq-m", "16", "--no-opq", "--overwrite")
        assert second.returncode == 2
        _one_line(second, "index", f"process {first.pid} is writing it (jpq-pyserini --index")
    finally:
        assert first.wait(600) == 0, first.stderr.read()[-2000:]
    assert not lock.exists() and (out / "train_summary.json").is_file()
    lock.write_text("4194999 jpq-pyserini train (killed long ago)\n")  # above pid_max: no such process
    run_cli("jpq_pyserini.index", "--input", str(flat_dir), "--output", str(out), "--pq-m", "16", "--no-opq", "--overwrite")
    assert not lock.exists() and (out / "index").is_file()


def test_two_searches_of_one_index_at_once(pq_dir, tiny_beir, tmp_path):
    args = ["-m", "jpq_pyserini.search", "--index", str(pq_dir), "--encoder", MODEL, "--topics", str(tiny_beir / "test"),
            "--hits", "100", "--output"]
    procs = [subprocess.Popen([sys.executable, *args, str(tmp_path / f"run{i}")], stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "TQDM_DISABLE": "1"}) for i in range(2)]
    for p in procs:
        assert p.wait(600) == 0, p.stderr.read()[-2000:]
    assert (tmp_path / "run0").read_bytes() == (tmp_path / "run1").read_bytes()


def test_tarballs_unpack_only_regular_files_inside_the_target(tmp_path):
    """What a package from someone else may hold: ``..`` and absolute members, links, a
    device; each is refused in one line and nothing is written, inside the target or out."""
    import io
    import tarfile

    from jpq_pyserini.errors import UsageError
    from jpq_pyserini.fsutil import extract_tar

    def tarball(name, *members):
        path = tmp_path / name
        with tarfile.open(path, "w:gz") as tar:
            for info, data in members:
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
        return path

    def file(name, data=b"x"):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        return info, data

    def special(name, kind, link=""):
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, link
        return info, None

    good = tarball("good.tar.gz", file("pkg/index", b"faiss"), file("pkg/docid", b"d1\n"))
    extract_tar(good, tmp_path / "good")
    assert (tmp_path / "good" / "pkg" / "index").read_bytes() == b"faiss"
    bad = {"dotdot": [file("../escaped")], "absolute": [file("/tmp/escaped-jpq")],
           "symlink": [special("pkg/link", tarfile.SYMTYPE, "/etc/passwd")],
           "hardlink": [file("pkg/a"), special("pkg/b", tarfile.LNKTYPE, "pkg/a")],
           "device": [special("pkg/dev", tarfile.CHRTYPE)]}
    for name, members in bad.items():
        before = sorted(p.name for p in tmp_path.iterdir())
        with pytest.raises(UsageError, match=f"--index {tmp_path / name}.tar.gz"):
            extract_tar(tarball(f"{name}.tar.gz", *members), tmp_path / name)
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before + [f"{name}.tar.gz"]), name
    assert not (tmp_path.parent / "escaped").exists() and not os.path.exists("/tmp/escaped-jpq")
