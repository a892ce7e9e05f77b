"""Official ir_datasets collections served offline from the user's own copy of their files.

``add("beir/nfcorpus", "~/Downloads/nfcorpus.zip")`` checks the file against the md5 that
ir_datasets records for that collection's downloads (its ``etc/downloads.json``, the same
check ir_datasets makes after a download), then puts it where ir_datasets would have
downloaded it (``IR_DATASETS_HOME``, default ``~/.ir_datasets``). From then on every id of the
collection (``beir/nfcorpus``, ``beir/nfcorpus/dev``, ...) loads with no network, in every verb
and in ir_datasets itself. A file whose md5 differs is refused, and nothing is written.
"""
import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

from .errors import UsageError
from .fsutil import md5sum


def catalog():
    """ir_datasets' download records: {top-level name: {key: {url, expected_md5, cache_path, ...}}}."""
    from ir_datasets.util import DownloadConfig
    return DownloadConfig.contents()


def _downloads(dataset_id, records):
    """(top, {key: record}) of the downloads that can serve ``dataset_id``: the keys its path
    starts with (``nfcorpus`` for ``beir/nfcorpus/dev``), else every download of its top name."""
    top, _, rest = dataset_id.strip("/").partition("/")
    if top not in records or not isinstance(records[top], dict):
        raise UsageError(f"ID {dataset_id}: ir_datasets records no downloads under '{top}' "
                         f"(expected an official id such as beir/nfcorpus or msmarco-passage)")
    entries = {k: v for k, v in records[top].items() if isinstance(v, dict) and v.get("expected_md5")}
    mine = {k: v for k, v in entries.items() if rest and (rest == k or rest.startswith(k + "/"))}
    return top, (mine or entries)


def _basename(record):
    return Path(urlparse(record.get("url", "")).path).name


def target(top, record):
    """Where ir_datasets looks for the file: its cache path, else the local-copy slot it names
    in its own messages (``downloads/MD5``)."""
    from ir_datasets.util import home_path
    if "cache_path" in record:
        return home_path() / top / record["cache_path"]
    return home_path() / "downloads" / record["expected_md5"]


def add(dataset_id, path, records=None):
    """Check and install the official file(s) at ``path`` (a file, or a folder of them) for
    ``dataset_id``; returns [(file, installed path)]."""
    records = catalog() if records is None else records
    top, candidates = _downloads(dataset_id, records)
    path = Path(path)
    if not path.exists():
        raise UsageError(f"PATH {path}: no such file or folder")
    files = sorted(f for f in path.iterdir() if f.is_file()) if path.is_dir() else [path]
    by_md5 = {r["expected_md5"]: (k, r) for k, r in candidates.items()}
    by_name = {_basename(r): r for r in candidates.values()}
    matched = []
    for f in files:
        digest = md5sum(f)
        if digest in by_md5:
            matched.append((f, by_md5[digest][1]))
        elif f.name in by_name:
            raise UsageError(f"PATH {f}: md5 {digest} differs from the official {f.name} "
                             f"({by_name[f.name]['expected_md5']}, ir_datasets' checksum); a damaged or other copy")
    if not matched:
        expected = ", ".join(sorted(f"{_basename(r)} ({r['expected_md5']})" for r in candidates.values())[:6])
        raise UsageError(f"PATH {path}: no file matches the official downloads of {dataset_id} (expected: {expected})")
    installed = []
    for f, record in matched:
        dest = target(top, record)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
        try:
            try:
                os.link(f, tmp)  # same file system: no second copy
            except OSError:
                shutil.copyfile(f, tmp)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        installed.append((f, dest))
    return installed


def available(records=None):
    """[(top/key, path)] of every official download present where ir_datasets looks for it."""
    records = catalog() if records is None else records
    home = Path(os.environ.get("IR_DATASETS_HOME", Path.home() / ".ir_datasets"))
    if not home.exists():  # ir_datasets' home_path() would create it
        return []
    out = []
    for top, entries in records.items():
        for key, record in (entries.items() if isinstance(entries, dict) else []):
            if isinstance(record, dict) and record.get("expected_md5") and target(top, record).exists():
                out.append((f"{top}/{key}", target(top, record)))
    return out
