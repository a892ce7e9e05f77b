"""One error type for bad input, the one place that turns it into exit code 2, and the
argparse pieces that make every verb's flag errors that same one line."""
import argparse
import functools
import math
import sys


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def cli(prog):
    """Decorate a verb's ``main(argv)`` so a UsageError becomes one line on stderr and exit 2."""
    def wrap(main):
        @functools.wraps(main)
        def run(argv=None):
            try:
                return main(argv)
            except UsageError as e:
                print(f"{prog}: error: {e}", file=sys.stderr)
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
