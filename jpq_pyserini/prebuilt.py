"""Prebuilt JPQ indexes: a trained model as one tarball with an entry in Pyserini's
prebuilt-index layout (``pyserini/prebuilt_index_info.py``), registered by name.

A package is ``NAME.tar.gz`` holding ``NAME/`` (the index dir that Pyserini's FaissSearcher
loads, with the trained query encoder in ``NAME/encoder/``) and ``NAME.json``
(``{NAME: entry}``). Its bytes depend only on the files packed (fixed times and owners), so
packing the same model twice gives the same md5. Registered entries live in the cache's
``prebuilt.json``; ``search --index NAME`` checks the tarball's md5 once, unpacks it into the
cache and searches it, as Pyserini does with its own prebuilt names.
"""
import gzip
import json
import re
import tarfile
from pathlib import Path
from urllib.parse import unquote, urlparse

from .errors import UsageError
from .fsutil import atomic_file, cache_dir, extract_tar, md5sum, read_json

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ENCODER = "encoder"   # the query encoder's folder inside a package's index dir


def _registry_file():
    return cache_dir() / "prebuilt.json"


def registry():
    """{name: entry} of every registered package."""
    path = _registry_file()
    return read_json(path, "prebuilt registry") if path.exists() else {}


def register(entries):
    """Add ``{name: entry}`` to the registry (a name registered again is replaced)."""
    merged = {**registry(), **entries}
    with atomic_file(_registry_file(), flag="prebuilt registry") as tmp:
        tmp.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")


def check_name(name, flag="--name"):
    if not NAME.match(name or ""):
        raise UsageError(f"{flag} {name!r}: expected letters, digits, '.', '_' and '-' "
                         f"(like beir-v1.0.0-scifact.minilm.jpq48)")
    return name


def _add(tar, path, arcname):
    info = tar.gettarinfo(str(path), arcname)
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    info.mode = 0o755 if info.isdir() else 0o644
    if info.isdir():
        tar.addfile(info)
        for child in sorted(Path(path).iterdir()):
            _add(tar, child, f"{arcname}/{child.name}")
    else:
        with open(path, "rb") as f:
            tar.addfile(info, f)


def write_tarball(path, name, index_dir, encoder_dir):
    """``NAME/`` = the index dir's files and ``NAME/encoder/``, with fixed times and owners."""
    with atomic_file(path) as tmp, open(tmp, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        root = tarfile.TarInfo(name)
        root.type, root.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(root)
        for f in sorted(Path(index_dir).iterdir()):
            if f.is_file():
                _add(tar, f, f"{name}/{f.name}")
        _add(tar, encoder_dir, f"{name}/{ENCODER}")


def entry(name, tarball, meta, description, scores):
    """Pyserini's prebuilt-index fields, and what a JPQ package adds (dim, M, bits, scores)."""
    return {name: {
        "description": description,
        "filename": tarball.name,
        "urls": [tarball.resolve().as_uri()],
        "md5": md5sum(tarball),
        "size compressed (bytes)": tarball.stat().st_size,
        "documents": meta["num_docs"],
        "downloaded": False,
        "dim": meta["dim"], "pq_m": meta.get("pq_m"), "pq_nbits": meta.get("pq_nbits"),
        "bytes per document": meta.get("bytes_per_doc"),
        "encoder": f"{ENCODER}/ (bundled; jpq-pyserini search uses it when --encoder is not given)",
        "scores": scores,
    }}


def _tarball(name, info, flag):
    for url in info.get("urls", []):
        parsed = urlparse(url)
        if parsed.scheme == "file":
            return Path(unquote(parsed.path))
        if parsed.scheme == "":
            return Path(url)
    raise UsageError(f"{flag} {name}: the entry has no file:// url (downloads are not supported offline); "
                     f"register the local copy with: jpq-pyserini indexes add ENTRY.json")


def resolve(name, flag="--index"):
    """The unpacked index dir of a registered package (md5 checked before the first unpack)."""
    entries = registry()
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none; make one with jpq-pyserini package"
        raise UsageError(f"{flag} {name}: no such index dir and no registered package of that name (registered: {known})")
    info = entries[name]
    target = cache_dir("indexes") / f"{name}.{info['md5']}"
    if not (target / name / "index").is_file():
        tarball = _tarball(name, info, flag)
        if not tarball.is_file():
            raise UsageError(f"{flag} {name}: package file {tarball} is missing")
        got = md5sum(tarball)
        if got != info["md5"]:
            raise UsageError(f"{flag} {name}: {tarball} has md5 {got}, its entry says {info['md5']} "
                             f"(a corrupted or replaced file)")
        extract_tar(tarball, target, flag)
        if not (target / name / "index").is_file():
            import shutil
            shutil.rmtree(target, ignore_errors=True)
            raise UsageError(f"{flag} {name}: {tarball} holds no {name}/index; not a jpq-pyserini package")
    return target / name


def read_entries(path, flag="ENTRY"):
    """{name: entry} from a package's JSON, its local tarball found next to it."""
    data = read_json(path, flag)
    if not isinstance(data, dict) or not data or not all(isinstance(v, dict) and "md5" in v for v in data.values()):
        raise UsageError(f"{flag} {path}: expected {{NAME: {{filename, md5, urls, ...}}}} as package writes it")
    for name, info in data.items():
        check_name(name, flag)
        local = Path(path).parent / info.get("filename", "")
        if info.get("filename") and local.is_file():
            info["urls"] = [local.resolve().as_uri()]
    return data


def in_argv(argv, index, encoder, queries_given=False, flag="--index"):
    """(argv, index, encoder) with a registered package's name in ``--index`` replaced by its
    unpacked dir, and its bundled encoder as ``--encoder`` when neither an encoder nor
    pre-encoded queries were given. Paths and Pyserini's own prebuilt names pass unchanged."""
    from .pyserini_bridge import replace_flag

    if index is None or Path(index).exists() or "/" in index:
        return argv, index, encoder
    if index not in registry():
        from pyserini.prebuilt_index_info import FAISS_INDEX_INFO
        if index in FAISS_INDEX_INFO:
            return argv, index, encoder  # one of Pyserini's own: Pyserini downloads it
    path = resolve(index, flag)
    argv = replace_flag(argv, "--index", str(path))
    if not (encoder or queries_given):
        encoder = str(path / ENCODER)
        argv = replace_flag(argv, "--encoder", encoder)
    return argv, str(path), encoder
