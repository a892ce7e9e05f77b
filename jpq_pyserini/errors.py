"""One error type for bad input, and the one place that turns it into exit code 2."""
import functools
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
