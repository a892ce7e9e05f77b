"""``jpq-pyserini validate``: check run files for TREC and the MS MARCO leaderboard.

MS MARCO: ``qid<TAB>pid<TAB>rank``, ranks 1..k in order per query, no duplicate
documents, every query of the topic set present. TREC: 6 columns, ``Q0``, numeric rank
and score, one run tag, no duplicate documents, scores not increasing with rank.
"""
import sys
from pathlib import Path

from .errors import Parser, UsageError, cli
from .runs import validate_run


@cli("jpq-pyserini validate")
def main(argv=None):
    p = Parser(prog="jpq-pyserini validate", description=__doc__.splitlines()[0])
    p.add_argument("--run", nargs="+", required=True)
    p.add_argument("--topics", help="topic set every query of which must be present (ir_datasets id or folder)")
    args = p.parse_args(argv)
    qids = None
    if args.topics:
        from .datasets import iter_queries, load_dataset
        qids = [q for q, _ in iter_queries(load_dataset(args.topics, "--topics"), args.topics)]
    bad = 0
    for path in args.run:
        if not Path(path).is_file():
            raise UsageError(f"--run {path}: no such file")
        fmt, problems = validate_run(path, qids)
        print(f"{path}: {'valid' if not problems else 'INVALID'} {fmt} run", file=sys.stderr)
        for prob in problems:
            print(f"  {prob}", file=sys.stderr)
        bad += bool(problems)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
