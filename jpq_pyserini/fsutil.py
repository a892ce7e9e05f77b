"""Cache location and atomic writes: a failed command never leaves a half-written artifact."""
import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from .errors import UsageError


def cache_dir(*parts) -> Path:
    root = Path(os.environ.get("JPQ_PYSERINI_CACHE", Path.home() / ".cache" / "jpq_pyserini"))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_output_dir(output, overwrite=False, flag="--output"):
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise UsageError(f"{flag} {output}: exists and is not a directory")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise UsageError(f"{flag} {output}: directory exists and is not empty (pass --overwrite to replace it)")
    return output


@contextlib.contextmanager
def atomic_dir(output, overwrite=False, flag="--output"):
    """Yield a temporary sibling directory; on success it replaces ``output`` in one rename."""
    output = check_output_dir(output, overwrite, flag)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.tmp-", dir=output.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; the result should not be
    if output.exists():
        old = output.with_name(f".{output.name}.old-{os.getpid()}")
        os.replace(output, old)
        os.replace(tmp, output)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, output)


@contextlib.contextmanager
def atomic_file(path):
    """Yield a temporary path next to ``path``; it becomes ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; the result should not be
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
