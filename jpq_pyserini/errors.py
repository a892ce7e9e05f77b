"""One error type for bad input, the one place that turns it (and interrupts, and a full
disk) into one line and an exit code, and the argparse pieces that make every verb's flag
errors that same one line."""
import argparse
import contextlib
import errno
import functools
import math
import re
import signal
import sys
import threading

# a write that failed for lack of room: a full disk, a quota, a file-size limit
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
# the same failure as faiss, safetensors and torch report it (their errors carry no errno)
_WRITE_FAILED = re.compile(r"write error|file write failed|unexpected pos \d+|no space left|file too large|"
                           r"disk quota|os error (?:27|28|122)\b", re.I)


def write_failure(error):
    """Why ``error`` is a write that found no room (a short reason), or None if it is not."""
    if isinstance(error, OSError) and error.errno in NO_ROOM:
        return f"{error.strerror.lower()} ({error.filename or 'a file'})"
    if isinstance(error, OSError) or not _WRITE_FAILED.search(str(error)):
        return None
    return "a write failed: no space left on the device or over a file-size limit"


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


class Terminated(BaseException):
    """SIGTERM, raised where the process is, like KeyboardInterrupt for SIGINT, so that every
    ``atomic_*`` write on the way out removes its temporary files."""


def _terminate(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def _sigterm_raises():
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _output(argv):
    """What the verb writes, as the user named it (for the interrupt and full-disk lines)."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    for i, arg in enumerate(argv):
        if arg == "--output" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--output="):
            return arg.split("=", 1)[1]
    return "the output"


def cli(prog):
    """Decorate a verb's ``main(argv)``: a UsageError, or a write that found no room, becomes one
    line on stderr and exit 2; Ctrl-C (SIGINT) and SIGTERM one line and 130 or 143, the
    shell's codes for those signals. Outputs are written atomically, so either leaves the
    previous output as it was and no temporary files."""
    def wrap(main):
        @functools.wraps(main)
        def run(argv=None):
            from ._bootstrap import command_env
            from .fsutil import output_locks
            command_env()  # also when a verb's main is called from Python: -Xrs before the JVM starts
            try:
                with output_locks(), _sigterm_raises():
                    return main(argv)
            except UsageError as e:
                print(f"{prog}: error: {e}", file=sys.stderr)
                sys.exit(2)
            except (KeyboardInterrupt, Terminated) as e:
                print(f"{prog}: interrupted: {_output(argv)} left as it was", file=sys.stderr)
                sys.exit(130 if isinstance(e, KeyboardInterrupt) else 143)
            except Exception as e:
                reason = write_failure(e)
                if reason is None:
                    raise
                print(f"{prog}: error: {_output(argv)}: not written, {reason}; the previous output is as it was",
                      file=sys.stderr)
                sys.exit(2)
        return run
    return wrap


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``PROG: error: MESSAGE (see --help)``, exit 2. The stock
    parser prints the whole usage first, which buries the line that says what was wrong."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _number(kind, low, low_ok, what, high=None, high_ok=False):
    """An argparse type: ``kind`` parsed, finite, and within [low, high] (ends open unless ``*_ok``)."""
    def check(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        ok = value is not None and math.isfinite(value)
        ok = ok and (value >= low if low_ok else value > low) if low is not None else ok
        ok = ok and (value <= high if high_ok else value < high) if high is not None else ok
        if not ok:
            raise argparse.ArgumentTypeError(f"'{text}': expected {what}")
        return value
    check.__name__ = what
    return check


positive_int = _number(int, 1, True, "an integer >= 1")
nonneg_int = _number(int, 0, True, "an integer >= 0")
positive_float = _number(float, 0, False, "a finite number > 0")
nonneg_float = _number(float, 0, True, "a finite number >= 0")
unit_float = _number(float, 0, True, "a number in [0, 1]", 1, True)
fraction = _number(float, 0, True, "a number in [0, 1)", 1, False)
