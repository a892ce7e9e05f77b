"""``jpq-pyserini eval``: ranx evaluation of run files, with significance tests.

Runs may be TREC (6 columns) or MS MARCO (``qid<TAB>pid<TAB>rank``, converted to scores
that preserve the rank order); qrels an ir_datasets id / local collection or a TREC qrels
file. ``--stat-test`` compares every run with the first (ranx's ``compare``).
"""
import os
import sys
from pathlib import Path

from .errors import Parser, UsageError, cli
from .fsutil import atomic_file, check_output_file, read_text
from .runs import read_run


def _pyserini_qrels_file(name, original_error):
    """Pyserini's named qrels (e.g. ``msmarco-passage-dev-subset``); Anserini fetches them once."""
    from ._bootstrap import require_java
    require_java()
    from pyserini.search import get_qrels_file
    try:
        return get_qrels_file(name)
    except Exception as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"--qrels {name}: not a qrels file, a dataset ({original_error}), "
                         f"nor a Pyserini qrels name ({reason})") from None


def read_qrels(source, flag="--qrels"):
    from ranx import Qrels
    from .datasets import load_dataset, load_qrels

    from .formats import kind
    if not Path(source).is_file() or kind(source) == "beir-qrels":
        try:
            return Qrels(load_qrels(load_dataset(source, flag), source, flag))
        except UsageError as e:
            if ": unknown dataset" not in str(e):
                raise
            if os.sep in source or Path(source).suffix in (".txt", ".tsv", ".qrels", ".gz"):
                raise UsageError(f"{flag} {source}: no such file") from None
            source = _pyserini_qrels_file(source, "not an ir_datasets id or folder")
    qrels = {}
    for n, line in enumerate(read_text(source, flag).splitlines(), 1):
        cols = line.split()
        if not cols:
            continue
        if len(cols) not in (3, 4):
            raise UsageError(f"{flag} {source}:{n}: expected TREC qrels (qid 0 docid grade) or SMART's "
                             f"(qid docid grade), got {len(cols)} columns")
        try:
            grade = int(cols[-1])
        except ValueError:
            raise UsageError(f"{flag} {source}:{n}: grade '{cols[-1]}' is not a whole number") from None
        qrels.setdefault(cols[0], {})[cols[-2]] = grade
    if not qrels:
        raise UsageError(f"{flag} {source}: no judgements")
    return Qrels(qrels)


def _ranx_run(run_dict, qrels, name, path):
    from ranx import Run

    overlap = len(set(run_dict) & set(qrels.keys()))
    if overlap == 0:
        raise UsageError(f"--runs {path}: none of its {len(run_dict)} query ids occur in the qrels "
                         f"({len(qrels.keys())} queries)")
    run = Run(run_dict, name=name)
    run.overlap = overlap
    return run


def evaluate(qrels, run, metrics=("ndcg@10", "mrr@10", "recall@100")):
    """ranx's evaluate over qrels and a run (ranx objects, dicts, or run files)."""
    from ranx import Qrels, Run, evaluate as ranx_evaluate

    qrels = qrels if isinstance(qrels, Qrels) else read_qrels(qrels) if isinstance(qrels, (str, Path)) else Qrels(qrels)
    run = run if isinstance(run, Run) else Run(read_run(run)) if isinstance(run, (str, Path)) else Run(run)
    result = ranx_evaluate(qrels, run, list(metrics), make_comparable=True)
    return result if isinstance(result, dict) else {metrics[0]: result}


def check_metrics(metrics, flag="--metrics"):
    """Ask ranx itself, on a one-query run, whether it knows every metric name."""
    from ranx import Qrels, Run, evaluate as ranx_evaluate

    for metric in metrics:
        try:
            ranx_evaluate(Qrels({"q": {"d": 1}}), Run({"q": {"d": 1.0}}), [metric])
        except (ValueError, KeyError, AssertionError, TypeError) as e:
            raise UsageError(f"{flag} {metric}: not a ranx metric ({str(e).splitlines()[0] if str(e) else 'invalid'}); "
                             f"e.g. ndcg@10, mrr@10, recall@100, map") from None
    return list(metrics)


def compare(qrels, runs, metrics=("ndcg@10", "mrr@10", "recall@100"), stat_test="student", max_p=0.05):
    from ranx import compare as ranx_compare
    return ranx_compare(qrels, runs, list(metrics), stat_test=stat_test, max_p=max_p, make_comparable=True)


@cli("jpq-pyserini eval")
def main(argv=None):
    p = Parser(prog="jpq-pyserini eval", description=__doc__.splitlines()[0])
    p.add_argument("--qrels", required=True,
                   help="TREC qrels file, ir_datasets id / local collection, or Pyserini qrels name")
    p.add_argument("--runs", nargs="+", required=True, help="run files (TREC or MS MARCO); the first is the baseline")
    p.add_argument("--names", nargs="+", help="names for the runs (default: file names)")
    p.add_argument("--metrics", nargs="+", default=["ndcg@10", "mrr@10", "recall@100"])
    p.add_argument("--stat-test", choices=["student", "fisher", "tukey"], default=None)
    p.add_argument("--per-query", action="store_true", help="print per-query scores (TSV)")
    p.add_argument("--format", choices=["markdown", "latex"], default="markdown")
    p.add_argument("--output", help="also write the table to this file")
    args = p.parse_args(argv)
    names = args.names or [Path(r).name for r in args.runs]
    if len(names) != len(args.runs):
        raise UsageError(f"--names: {len(names)} names for {len(args.runs)} runs")
    check_metrics(args.metrics)
    if args.output:
        check_output_file(args.output)
    qrels = read_qrels(args.qrels)
    runs = [_ranx_run(read_run(path), qrels, name, path) for name, path in zip(names, args.runs)]
    for run, path in zip(runs, args.runs):
        if run.overlap < len(qrels.keys()):
            print(f"note: {path} covers {run.overlap} of {len(qrels.keys())} judged queries "
                  f"(missing ones score 0)", file=sys.stderr)
    try:
        if args.stat_test and len(runs) > 1:
            report = compare(qrels, runs, args.metrics, args.stat_test)
            table = report.to_latex() if args.format == "latex" else report.to_table()
        else:
            rows = [(r.name, evaluate(qrels, r, args.metrics)) for r in runs]
            table = "| run | " + " | ".join(args.metrics) + " |\n|---|" + "---|" * len(args.metrics) + "\n" + "\n".join(
                f"| {name} | " + " | ".join(f"{float(m[k]):.4f}" for k in args.metrics) + " |" for name, m in rows)
    except (KeyError, ValueError) as e:
        raise UsageError(f"--metrics {' '.join(args.metrics)}: {e}") from None
    print(table)
    if args.per_query:
        from ranx import evaluate as ranx_evaluate
        for r in runs:
            ranx_evaluate(qrels, r, args.metrics, make_comparable=True)
            for m in args.metrics:
                for qid, v in r.scores[m].items():
                    print(f"{r.name}\t{m}\t{qid}\t{v:.4f}")
    if args.output:
        with atomic_file(args.output) as tmp:
            tmp.write_text(table + "\n")


if __name__ == "__main__":
    main()
