"""``jpq-pyserini submit``: an MS MARCO leaderboard package from dev and eval runs.

Writes ``dev.txt.bz2`` and ``eval.txt.bz2`` (``qid<TAB>pid<TAB>rank``; TREC runs are
converted), each checked by the validator against its topic set, and ``metadata.json``
(team, description, paper, code URL) for the leaderboard's own packing script. Nothing
is written unless both runs are valid.
"""
import bz2
import json
import sys

from .errors import Parser, UsageError, cli, positive_int
from .fsutil import atomic_dir, check_output_dir
from .runs import msmarco_lines, read_run, validate_run


def make_package(runs, topics, output, metadata, hits=100, overwrite=False):
    from .datasets import iter_queries, load_dataset

    check_output_dir(output, overwrite)
    for split, path in runs.items():  # every input read before anything is written
        read_run(path, f"--{split}-run")
    qids = {split: [q for q, _ in iter_queries(load_dataset(topics[split], f"--{split}-topics"), topics[split],
                                               f"--{split}-topics")] for split in runs}
    with atomic_dir(output, overwrite) as tmp:
        for split, path in runs.items():
            out = tmp / f"{split}.txt"
            out.write_text("".join(msmarco_lines(path, hits, f"--{split}-run")))
            _, problems = validate_run(out, qids[split])
            if problems:
                raise UsageError(f"--{split}-run {path}: not a valid leaderboard run: {problems[0]}"
                                 + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""))
            with open(out, "rb") as src, bz2.open(tmp / f"{split}.txt.bz2", "wb") as dst:
                dst.write(src.read())
            out.unlink()
        (tmp / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")


@cli("jpq-pyserini submit")
def main(argv=None):
    p = Parser(prog="jpq-pyserini submit", description=__doc__.splitlines()[0])
    p.add_argument("--dev-run", required=True)
    p.add_argument("--eval-run", required=True)
    p.add_argument("--dev-topics", required=True, help="ir_datasets id or folder of the dev queries")
    p.add_argument("--eval-topics", required=True, help="ir_datasets id or folder of the eval queries")
    p.add_argument("--team", required=True)
    p.add_argument("--description", required=True)
    p.add_argument("--paper", default="https://arxiv.org/abs/2108.00644")
    p.add_argument("--code", default="")
    p.add_argument("--hits", type=positive_int, default=100, help="documents per query in the package")
    p.add_argument("--output", required=True)
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    meta = {"team": args.team, "model_description": args.description, "paper": args.paper, "code": args.code,
            "type": "full ranking"}
    make_package({"dev": args.dev_run, "eval": args.eval_run},
                 {"dev": args.dev_topics, "eval": args.eval_topics}, args.output, meta, args.hits, args.overwrite)
    print(f"leaderboard package written to {args.output}: dev.txt.bz2, eval.txt.bz2, metadata.json", file=sys.stderr)


if __name__ == "__main__":
    main()
