"""``train --preset paper`` (the reference implementation's settings) beside the defaults.

    python eval/preset.py   # SciFact test and NFCorpus dev (the selection split), M=48

Both train on the index the quick reproduction's JPQ48 starts from (``jpq-pyserini
reproduce SPEC --quick``), with the spec's train and dev splits, through ``jpq-pyserini
train`` as a user runs it; both are scored through ``jpq-pyserini search``. The table goes to
eval/results/preset/preset.md.
"""
import subprocess
import sys
import time

from experiments import ROOT, score, systems, write_table

NAMES = {"scifact": "SciFact test", "nfcorpus": "NFCorpus dev (selection split)"}


def main():
    rows = []
    for collection, name in NAMES.items():
        spec, built, start = systems(collection)
        out = ROOT / "runs" / "preset" / collection
        seconds = "(reused)"
        if not (out / "train_summary.json").exists():
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "jpq_pyserini.train", "--preset", "paper",
                            "--index", str(built[start].index_dir), "--train", spec.train, "--dev", spec.dev,
                            "--output", str(out), "--overwrite"], check=True)
            seconds = f"{time.perf_counter() - t0:.0f} s"
        cells = [score(built[s].index_dir, built[s].encoder, spec, ROOT / "runs" / "preset" / f"{collection}-{s}.trec")
                 for s in (start, "jpq48")]
        cells.append(score(out / "index", out / "encoder", spec, ROOT / "runs" / "preset" / f"{collection}-paper.trec"))
        rows.append([name, start.upper(), *(f"{c['ndcg@10']:.4f} / {c['recall@100']:.4f}" for c in cells), seconds])
    write_table("preset", ["collection", "start index (M=48)", "start, untrained", "JPQ48, defaults",
                           "JPQ48, --preset paper", "--preset paper training, wall clock"],
                rows, "python eval/preset.py", folder="preset")


if __name__ == "__main__":
    main()
