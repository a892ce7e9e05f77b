"""What the experiment scripts in eval/ share: the reproduction specs' artifacts, and a run
searched through ``jpq-pyserini search`` (as a user runs it) and scored by ranx."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = {"scifact": ROOT / "eval" / "scifact.yaml", "nfcorpus": ROOT / "eval" / "nfcorpus.yaml"}
METRICS = ("ndcg@10", "recall@100")


def systems(collection):
    """(spec, {name: reproduce.System}, the name of JPQ48's start index) of a collection's quick
    reproduction (M=48), built on first use and reused from the cache afterwards
    (``jpq-pyserini reproduce SPEC --quick``)."""
    from jpq_pyserini.reproduce import build_systems, load_spec

    spec = load_spec(SPECS[collection], quick=True)
    built, init = build_systems(spec)
    return spec, built, f"{init[48]}48"


def score(index, encoder, spec, run_file, *flags):
    """Search ``spec``'s topics (1,000 hits) and return ranx's METRICS against its qrels."""
    from jpq_pyserini.eval import evaluate
    from jpq_pyserini.search import run_pyserini_search

    run_file = Path(run_file)
    if not run_file.exists():
        run_file.parent.mkdir(parents=True, exist_ok=True)
        run_pyserini_search(["--index", str(index), "--encoder", str(encoder), "--topics", spec.topics,
                             "--output", str(run_file), "--hits", "1000", "--batch-size", "64", "--threads", "2",
                             *map(str, flags)])
    return {m: round(float(v), 4) for m, v in evaluate(spec.qrels, str(run_file), METRICS).items()}


def write_table(name, header, rows, command, folder="portable"):
    """Print a markdown table and write it to eval/results/FOLDER/NAME.md with its command."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    print(text, file=sys.stderr)
    out = ROOT / "eval" / "results" / folder / f"{name}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"Command: `{command}`\n\n{text}")
    return out
