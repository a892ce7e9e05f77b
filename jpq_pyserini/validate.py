"""``jpq-pyserini validate``: check run files for TREC and the MS MARCO leaderboard.

MS MARCO: ``qid<TAB>pid<TAB>rank``, ranks 1..k in order per query, no duplicate
documents, every query of the topic set present. TREC: 6 columns, ``Q0``, numeric rank
and score, one run tag, no duplicate documents, scores not increasing with rank.
"""
import argparse
import sys
from pathlib import Path

from .errors import UsageError, cli


def validate_run(path, qids=None, max_problems=10):
    """(format, list of problems); an empty list means the run is valid."""
    lines = [l.rstrip("\n") for l in open(path) if l.strip()]
    if not lines:
        return "unknown", [f"{path}: empty file"]
    fmt = "msmarco" if len(lines[0].split("\t")) == 3 else "trec"
    problems, seen, last, tags = [], {}, {}, set()
    for n, line in enumerate(lines, 1):
        cols = line.split("\t") if fmt == "msmarco" else line.split()
        if len(cols) != (3 if fmt == "msmarco" else 6):
            problems.append(f"line {n}: expected {3 if fmt == 'msmarco' else 6} columns, got {len(cols)}")
            continue
        qid, did = (cols[0], cols[1]) if fmt == "msmarco" else (cols[0], cols[2])
        rank_col = cols[2] if fmt == "msmarco" else cols[3]
        if not rank_col.isdigit():
            problems.append(f"line {n}: rank '{rank_col}' is not a positive integer")
            continue
        rank = int(rank_col)
        docs = seen.setdefault(qid, set())
        if did in docs:
            problems.append(f"line {n}: document {did} appears twice for query {qid}")
        docs.add(did)
        prev_rank, prev_score = last.get(qid, (0, None))
        if fmt == "msmarco" and rank != prev_rank + 1:
            problems.append(f"line {n}: query {qid} rank {rank} follows rank {prev_rank} (expected {prev_rank + 1})")
        score = None
        if fmt == "trec":
            if cols[1] != "Q0":
                problems.append(f"line {n}: second column is '{cols[1]}', expected Q0")
            try:
                score = float(cols[4])
            except ValueError:
                problems.append(f"line {n}: score '{cols[4]}' is not a number")
            tags.add(cols[5])
            if score is not None and prev_score is not None and score > prev_score + 1e-9 and rank > prev_rank:
                problems.append(f"line {n}: query {qid} score rises with rank")
        last[qid] = (rank, score)
    if fmt == "trec" and len(tags) > 1:
        problems.append(f"{len(tags)} run tags ({', '.join(sorted(tags)[:3])}...); a TREC run has one")
    if qids is not None:
        missing = sorted(set(qids) - set(seen))
        extra = sorted(set(seen) - set(qids))
        if missing:
            problems.append(f"{len(missing)} queries of the topic set have no results (first: {missing[0]})")
        if extra:
            problems.append(f"{len(extra)} query ids are not in the topic set (first: {extra[0]})")
    return fmt, problems[:max_problems] + ([f"... and {len(problems) - max_problems} more"] if len(problems) > max_problems else [])


@cli("jpq-pyserini validate")
def main(argv=None):
    p = argparse.ArgumentParser(prog="jpq-pyserini validate", description=__doc__.splitlines()[0])
    p.add_argument("--run", nargs="+", required=True)
    p.add_argument("--topics", help="topic set every query of which must be present (ir_datasets id or folder)")
    args = p.parse_args(argv)
    qids = None
    if args.topics:
        from .datasets import iter_queries, load_dataset
        qids = [q for q, _ in iter_queries(load_dataset(args.topics), args.topics)]
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
