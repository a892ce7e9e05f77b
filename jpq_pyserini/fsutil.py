"""Cache location, checks on outputs, one writer per output, and atomic writes: a failed or
killed command never leaves a half-written artifact under its real name, and its temporary
leftovers are removed the next time this tool writes beside them."""
import atexit
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .errors import UsageError

# Temporary entries are ``.NAME.tmp-PID-XXXX`` (being written) and ``.NAME.old-PID`` (the
# previous NAME during a replace). One of a process that is gone and older than this is a
# leftover of a kill; a live process's entries are never touched.
STALE_SECONDS = 600
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)(-.*)?$")


def cache_dir(*parts) -> Path:
    root = Path(os.environ.get("JPQ_PYSERINI_CACHE", Path.home() / ".cache" / "jpq_pyserini"))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def recover(path):
    """Undo a replace that a kill cut between its two renames: ``path`` is missing, its previous
    version sits at ``.NAME.old-PID`` and the complete new one at ``.NAME.tmp-PID-*`` (the old
    name is taken only once the new one is complete). The new one wins."""
    path = Path(path)
    if path.exists() or not path.parent.is_dir():
        return
    for old in path.parent.glob(f".{path.name}.old-*"):
        pid = _TEMP.match(old.name)["pid"]
        if _alive(int(pid)) and int(pid) != os.getpid():
            continue
        new = sorted(path.parent.glob(f".{path.name}.tmp-{pid}-*"), key=lambda p: p.stat().st_mtime)
        os.replace(new[-1] if new else old, path)
        if new:
            _remove(old)
        return


def clean_stale(parent, now=None):
    """Remove this tool's temporary entries in ``parent`` left by killed processes (by name
    pattern and age, never anything else), after recovering any interrupted replace."""
    parent = Path(parent)
    if not parent.is_dir():
        return
    now = time.time() if now is None else now

    def leftovers():
        for entry in list(parent.iterdir()):
            m = _TEMP.match(entry.name)
            if m and not _alive(int(m["pid"])):
                yield entry, m

    for entry, m in leftovers():
        if m["kind"] == "old":
            with contextlib.suppress(OSError):
                recover(parent / m["name"])
    for entry, _ in leftovers():
        with contextlib.suppress(OSError):
            if now - entry.lstat().st_mtime > STALE_SECONDS:
                _remove(entry)


def check_writable(path, flag):
    """``path`` can be created: its nearest existing ancestor is a writable directory."""
    path = Path(path).absolute()
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{flag} {path}: {parent} is not a directory")
    try:  # a real probe: permission bits say nothing for root, or on read-only mounts
        fd, probe = tempfile.mkstemp(prefix=f".write-probe.tmp-{os.getpid()}-", dir=parent)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise UsageError(f"{flag} {path}: cannot write in {parent} ({e.strerror or e})") from None


_HELD = set()  # the output locks this process holds (released as its verb ends, or at exit)


def lock_output(output, flag="--output"):
    """Claim ``output`` for this process: ``.NAME.lock`` beside it holds the writer's pid and
    command line. A second command writing the same output refuses at once, naming the first;
    the lock of a process that is gone (killed) is taken over."""
    output = Path(output).absolute()
    lock = output.with_name(f".{output.name}.lock")
    if lock in _HELD or not lock.parent.is_dir():  # no parent yet: nobody can be writing there
        return
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid, _, command = lock.read_text().partition(" ")
                pid = int(pid)
            except (OSError, ValueError):
                pid, command = None, ""
            if pid is not None and pid != os.getpid() and _alive(pid):
                raise UsageError(f"{flag} {output}: process {pid} is writing it ({command.strip()[:160]}); "
                                 f"wait for it to end, or stop it") from None
            lock.unlink(missing_ok=True)  # its writer is gone (or is this process): take it over
            continue
        _HELD.add(lock)
        with os.fdopen(fd, "w") as f:  # a failed write (a full disk) leaves the lock to output_locks to remove
            f.write(f"{os.getpid()} jpq-pyserini {' '.join(sys.argv[1:])[:300]}\n")
        return
    raise UsageError(f"{flag} {output}: could not lock it ({lock} keeps changing)")


def _release(locks):
    for lock in list(locks):
        _HELD.discard(lock)
        lock.unlink(missing_ok=True)


@contextlib.contextmanager
def output_locks():
    """Give up, when the block (a verb) ends, the output locks taken inside it."""
    before = set(_HELD)
    try:
        yield
    finally:
        _release(_HELD - before)


atexit.register(lambda: _release(set(_HELD)))


def check_output_file(path, flag="--output", lock=True):
    """A file ``path`` may be written (and, with ``lock``, is this process's to write)."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a directory; expected a file path")
    check_writable(path, flag)
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{flag} {path}: cannot replace it (permission denied)")
    if lock:
        lock_output(path, flag)
    return path


def check_output_dir(output, overwrite=False, flag="--output", inputs=(), lock=True):
    """A directory ``output`` may be written (absent, empty, or replaced with ``overwrite``),
    and neither is nor holds nor lies inside one of ``inputs`` ((flag, path) pairs); with
    ``lock``, it is this process's to write (the verbs check their outputs so, first thing)."""
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise UsageError(f"{flag} {output}: exists and is not a directory")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise UsageError(f"{flag} {output}: directory exists and is not empty (pass --overwrite to replace it)")
    for in_flag, source in inputs:
        if source and Path(source).exists():
            src, out = Path(source).resolve(), output.resolve()
            if out == src or src in out.parents or out in src.parents:
                raise UsageError(f"{flag} {output}: overlaps {in_flag} {source}; write the output elsewhere")
    check_writable(output, flag)
    if lock:
        lock_output(output, flag)
    return output


def _temp_prefix(path):
    return f".{path.name}.tmp-{os.getpid()}-"


@contextlib.contextmanager
def atomic_dir(output, overwrite=False, flag="--output"):
    """Yield a temporary sibling directory; on success it replaces ``output`` in one rename."""
    output = check_output_dir(output, overwrite, flag, lock=False)  # caches and checkpoints: replaced atomically
    tmp = temp_dir_for(output)
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; the result should not be
        replace_dir(tmp, output)
    except BaseException:  # errors, Ctrl-C, SIGTERM (errors.Terminated): no temporary dir stays
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_dir(new, output):
    """Put the complete directory ``new`` at ``output``; a kill at any point leaves either
    version whole (``recover`` finishes the job), and an exception (an interrupt) between the
    two renames puts the previous version back."""
    if output.exists():
        old = output.with_name(f".{output.name}.old-{os.getpid()}")
        _remove(old)
        os.replace(output, old)
        try:
            os.replace(new, output)
        except BaseException:
            if not output.exists():
                os.replace(old, output)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, output)


@contextlib.contextmanager
def atomic_file(path, flag="--output"):
    """Yield a temporary path next to ``path``; it becomes ``path`` only if the block succeeds."""
    path = check_output_file(path, flag, lock=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; the result should not be
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def extract_tar(archive, target, flag="--index"):
    """Unpack ``archive`` into the new directory ``target`` (atomically), regular files and
    directories only, all inside it: tarfile's ``data`` filter refuses absolute names, ``..``,
    links and device files. A tarball from someone else writes nowhere else."""
    import tarfile

    try:
        with tarfile.open(archive) as tar, atomic_dir(target, flag=flag) as tmp:
            for member in tar.getmembers():
                if not (member.isfile() or member.isdir()):
                    raise UsageError(f"{flag} {archive}: member '{member.name}' is a link or special file; "
                                     f"only regular files are unpacked")
                if os.path.isabs(member.name) or ".." in Path(member.name).parts:
                    raise UsageError(f"{flag} {archive}: member '{member.name}' points outside the package")
            tar.extractall(tmp, filter="data")  # the same rules again, by the standard library
    except (tarfile.TarError, EOFError) as e:  # FilterError (outside the target, absolute), damaged archives
        raise UsageError(f"{flag} {archive}: not unpacked ({str(e).splitlines()[0][:160] or type(e).__name__})") from None
    return Path(target)


def temp_dir_for(path):
    """A fresh temporary sibling of ``path`` (for work that ends with ``replace_dir``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path.parent)
    return Path(tempfile.mkdtemp(prefix=_temp_prefix(path), dir=path.parent))


def read_text(path, flag):
    """A text file's contents; unreadable or non-UTF-8 bytes become one line naming the file
    and the line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{flag} {path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{flag} {path}: is a directory; expected a file") from None
    except OSError as e:
        raise UsageError(f"{flag} {path}: cannot read it ({e.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise UsageError(f"{flag} {path}:{line}: not UTF-8 text (byte {data[e.start]:#04x})") from None


def md5sum(path):
    """A file's md5, as Pyserini's and ir_datasets' download records give it."""
    import hashlib
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_json(path, flag):
    """A JSON file's value; a syntax error names the file, line and column."""
    text = read_text(path, flag)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"{flag} {path}:{e.lineno}:{e.colno}: not valid JSON ({e.msg})") from None
