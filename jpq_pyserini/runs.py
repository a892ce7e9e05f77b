"""Run files: reading, validating and writing TREC (6 columns) and MS MARCO (``qid<TAB>pid<TAB>rank``) runs.

Used by the ``eval``, ``validate``, ``submit`` and ``reproduce`` verbs, so the format is
defined once.
"""
import math
from pathlib import Path

from .errors import UsageError
from .fsutil import read_text


def read_run(path, flag="--runs"):
    """{qid: {docid: score}} from a TREC or MS MARCO run file; the first line decides the
    format and every line must follow it."""
    path = Path(path)
    run, width = {}, None
    for n, line in enumerate(read_text(path, flag).splitlines(), 1):
        cols = line.split()
        if not cols:
            continue
        width = width or len(cols)
        if width not in (6, 3):
            raise UsageError(f"{flag} {path}:{n}: expected 6 columns (TREC) or 3 (MS MARCO), got {len(cols)}")
        if len(cols) != width:
            raise UsageError(f"{flag} {path}:{n}: expected {width} columns like line 1 "
                             f"({'TREC' if width == 6 else 'MS MARCO'}), got {len(cols)}")
        if width == 6:
            qid, did, score = cols[0], cols[2], _number(cols[4], float, "score", flag, path, n)
        else:  # rank 1 scores highest
            qid, did, score = cols[0], cols[1], -_number(cols[2], int, "rank", flag, path, n)
        docs = run.setdefault(qid, {})
        if did in docs:
            raise UsageError(f"{flag} {path}:{n}: document {did} appears twice for query {qid}")
        docs[did] = score
    if not run:
        raise UsageError(f"{flag} {path}: empty run")
    return run


def _number(text, kind, what, flag, path, n):
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value):
        raise UsageError(f"{flag} {path}:{n}: {what} '{text}' is not a {'number' if kind is float else 'whole number'}")
    return value


def validate_run(path, qids=None, max_problems=10, flag="--run"):
    """(format, list of problems); an empty list means the run is valid."""
    lines = [l for l in read_text(path, flag).splitlines() if l.strip()]
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


def msmarco_lines(path, hits, flag="--runs"):
    run = read_run(path, flag)
    for qid, docs in run.items():
        for rank, (did, _) in enumerate(sorted(docs.items(), key=lambda kv: -kv[1])[:hits], 1):
            yield f"{qid}\t{did}\t{rank}\n"



def write_trec(path, results, tag):
    """Write Pyserini search results ``{qid: [hit with .docid and .score]}`` as a TREC run,
    in Pyserini's own line format (``qid Q0 docid rank score tag``)."""
    with open(path, "w") as f:
        for qid, hits in results.items():
            for rank, hit in enumerate(hits, 1):
                f.write(f"{qid} Q0 {hit.docid} {rank} {hit.score:.6f} {tag}\n")
