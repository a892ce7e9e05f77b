"""A kill at any point loses nothing: SIGKILL a real command at a chosen point, then the
rerun (or ``--resume``) succeeds and the output is either absent or complete and consistent,
and this tool's temporary leftovers are removed by the next command that writes beside them."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import run_cli
from jpq_pyserini import fsutil

# Code run before the command, in the same process: SIGKILL at the chosen point.
KILL_AFTER_WRITE_INDEX = """
import faiss, os, signal
_write = faiss.write_index
def write_index(*a, **k):
    _write(*a, **k)
    os.kill(os.getpid(), signal.SIGKILL)   # mid-way through writing an index dir
faiss.write_index = write_index
"""
SIGNAL_AT_REPLACE = """
import os, signal
_replace, _seen = os.replace, [0]
def replace(src, dst, *a, **k):
    if os.path.basename(str(dst)) == {name!r}:
        _seen[0] += 1
        if _seen[0] == {nth}:
            os.kill(os.getpid(), {sig})   # just before the {nth}th rename onto {name}
    return _replace(src, dst, *a, **k)
os.replace = replace
"""
KILL_AT_REPLACE = SIGNAL_AT_REPLACE.replace("{sig}", str(int(signal.SIGKILL)))


def run_killed(hook, verb, *argv):
    code = hook + f"\nfrom jpq_pyserini.cli import main\nmain({[verb, *map(str, argv)]!r})\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "TQDM_DISABLE": "1"})
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr[-2000:])


def leftovers(parent):
    return sorted(p.name for p in Path(parent).iterdir() if re.match(r"^\..+\.(tmp|old)-\d+", p.name))


def age(parent, seconds=fsutil.STALE_SECONDS + 60):
    """Make the leftovers look as old as a kill long ago (the cleanup waits that long)."""
    for name in leftovers(parent):
        past = time.time() - seconds
        for path in [Path(parent) / name, *(Path(parent) / name).rglob("*")]:
            os.utime(path, (past, past), follow_symlinks=False)


def tree(path):
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(Path(path).rglob("*")) if p.is_file()}


def test_killed_index_leaves_no_output_and_the_rerun_cleans_up(flat_dir, tmp_path):
    out = tmp_path / "pq"
    run_killed(KILL_AFTER_WRITE_INDEX, "index", "--input", flat_dir, "--output", out, "--pq-m", "16", "--no-opq")
    assert not out.exists() and leftovers(tmp_path)
    age(tmp_path)
    run_cli("jpq_pyserini.index", "--input", str(flat_dir), "--output", str(out), "--pq-m", "16", "--no-opq")
    assert sorted(p.name for p in out.iterdir()) == ["docid", "index", "meta.json"]
    assert leftovers(tmp_path) == []


def test_killed_search_leaves_no_run(pq_dir, tiny_beir, tmp_path):
    out = tmp_path / "run.trec"
    args = ["--index", pq_dir, "--topics", tiny_beir / "test", "--encoder", "sentence-transformers/all-MiniLM-L6-v2",
            "--output", out, "--hits", "10"]
    run_killed(KILL_AT_REPLACE.format(name="run.trec", nth=1), "search", *args)
    assert not out.exists() and leftovers(tmp_path)  # the complete run never got its name
    age(tmp_path)
    run_cli("jpq_pyserini.search", *map(str, args))
    assert len(out.read_text().splitlines()) == 24 * 10
    assert leftovers(tmp_path) == []


def _train_args(pq_dir, tiny_beir, out, epochs):
    return ["--index", pq_dir, "--train", tiny_beir / "train", "--dev", tiny_beir / "test", "--output", out,
            "--epochs", str(epochs), "--batch-size", "8", "--neg-topk", "50", "--fine-tune", "joint", "--lr", "5e-5",
            "--centroid-lr", "1e-3"]


def test_killed_retrain_keeps_the_old_output_whole(pq_dir, tiny_beir, tmp_path):
    out = tmp_path / "jpq"
    run_cli("jpq_pyserini.train", *map(str, _train_args(pq_dir, tiny_beir, out, 1)))
    before = tree(out)
    # retrain with other settings; killed at its first checkpoint
    new = [*_train_args(pq_dir, tiny_beir, out, 2), "--overwrite"]
    run_killed(KILL_AT_REPLACE.format(name="last", nth=1), "train", *new)
    assert tree(out) == before  # the old output, untouched
    age(tmp_path)
    run_cli("jpq_pyserini.train", *map(str, new))
    assert json.loads((out / "train_config.json").read_text())["epochs"] == 2
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 2 * 3 and (out / "index" / "index").is_file() and (out / "encoder").is_dir()
    assert json.loads((out / "index" / "meta.json").read_text())["query_encoder"] == str(out / "encoder")
    assert leftovers(tmp_path) == [] and leftovers(out) == []


def test_kill_between_the_renames_of_a_checkpoint_save_resumes(pq_dir, tiny_beir, tmp_path):
    out = tmp_path / "jpq"
    args = _train_args(pq_dir, tiny_beir, out, 2)
    # the second save replaces checkpoints/last: killed after moving the old one aside,
    # before the new one takes its name
    run_killed(KILL_AT_REPLACE.format(name="last", nth=2), "train", *args)
    ckpts = out / "checkpoints"
    assert not (ckpts / "last").exists() and any(n.startswith(".last.old-") for n in leftovers(ckpts))
    run_cli("jpq_pyserini.train", *map(str, args), "--resume")
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 2 * 3  # resumed from the new (epoch 2) checkpoint: nothing retrained
    assert (ckpts / "last" / "state.pt").is_file() and leftovers(ckpts) == []


def test_stale_cleanup_touches_only_dead_old_leftovers(tmp_path):
    dead = 2 ** 22 + 12345  # above the default pid_max: no such process
    mine = [f".x.tmp-{dead}-abc", f".y.old-{dead}"]
    keep = [f".x.tmp-{os.getpid()}-abc", ".x.tmp-abc", "notes.tmp-1", f"x.tmp-{dead}-a", f".z.tmp-{dead}-young"]
    for name in mine + keep:
        (tmp_path / name).mkdir()
    (tmp_path / "y").mkdir()  # the .old's target exists: the .old is a leftover, not a recovery
    age(tmp_path)
    now = time.time()
    os.utime(tmp_path / keep[-1], (now, now))
    fsutil.clean_stale(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep + ["y"])
