#!/bin/bash
# The exported models of eval/sweeps/nfcorpus-stage1-patience.yaml (epochs chosen on the train
# carve's dev queries) scored on NFCorpus's official dev split, the selection split:
# nfcorpus-stage1-patience-official-dev.md. Run `python eval/sweep.py` on the grid first.
export HF_HUB_OFFLINE=1 TQDM_DISABLE=1
J=.venv/bin/jpq-pyserini
D=$(realpath ../shared/data/nfcorpus)
S=${JPQ_PYSERINI_CACHE:-~/.cache/jpq_pyserini}/sweeps/nfcorpus-stage1-patience
W=runs/stage1-patience; mkdir -p $W
runs=()
for r in p2-seed42 p0-seed42 p2-seed1 p0-seed1 p2-seed2 p0-seed2 p2-seed3 p0-seed3; do
  $J search --index $S/$r/index --encoder $S/$r/encoder --topics $D/dev --output $W/$r.trec --hits 1000 --threads 2 --batch-size 64 > /dev/null 2>&1
  runs+=($W/$r.trec)
done
$J eval --qrels $D/dev --runs "${runs[@]}" > eval/results/sweeps/nfcorpus-stage1-patience-official-dev.md
