"""``jpq-pyserini indexes``: the registered prebuilt JPQ indexes; ``indexes add ENTRY.json``
registers a package someone else made (its tarball beside the JSON)."""
import sys

from . import prebuilt
from .errors import Parser, cli


@cli("jpq-pyserini indexes")
def main(argv=None):
    p = Parser(prog="jpq-pyserini indexes", description=__doc__.splitlines()[0])
    p.add_argument("action", nargs="?", choices=["list", "add"], default="list")
    p.add_argument("entry", nargs="?", metavar="ENTRY.json", help="for add: a package's JSON (package writes it)")
    args = p.parse_args(argv)
    if args.action == "add":
        if not args.entry:
            p.error("indexes add: ENTRY.json is required")
        entries = prebuilt.read_entries(args.entry)
        prebuilt.register(entries)
        print(f"registered: {', '.join(entries)}", file=sys.stderr)
        return
    entries = prebuilt.registry()
    if not entries:
        print("no packages registered (jpq-pyserini package TRAIN_OUT --name NAME --output DIR)", file=sys.stderr)
        return
    print("| name | documents | bytes/doc | size (bytes) | md5 | scores |\n|---|---|---|---|---|---|")
    for name, e in sorted(entries.items()):
        scores = "; ".join(f"{t}: " + ", ".join(f"{m} {v}" for m, v in s.items()) for t, s in e.get("scores", {}).items())
        print(f"| {name} | {e.get('documents')} | {e.get('bytes per document')} | {e.get('size compressed (bytes)')} "
              f"| {e.get('md5')} | {scores} |")


if __name__ == "__main__":
    main()
