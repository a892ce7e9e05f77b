#!/usr/bin/env bash
# SciFact end to end on the embedded defaults; each step is one jpq-pyserini verb.
set -euo pipefail
OUT=${1:-runs/scifact}
M=${PQ_M:-48}
mkdir -p "$OUT/runs"
step() { echo; echo "== $*" >&2; }
skip() { [ -f "$1/meta.json" ] && echo "(reusing $1)" >&2; }

step "encode the corpus (frozen MiniLM document encoder)"
skip "$OUT/flat" || jpq-pyserini encode --corpus jpq-pyserini/scifact --output "$OUT/flat"
step "compress: PQ M=$M x 8 bits"
skip "$OUT/pq$M" || jpq-pyserini index --input "$OUT/flat" --output "$OUT/pq$M" --pq-m "$M"
step "JPQ: train the query encoder and the centroids (train/fit; epochs chosen on train/dev)"
skip "$OUT/jpq$M/index" || jpq-pyserini train --index "$OUT/pq$M" --output "$OUT/jpq$M" --overwrite
step "search the test split"
jpq-pyserini bm25 --corpus jpq-pyserini/scifact --topics jpq-pyserini/scifact/test --output "$OUT/runs/bm25.trec"
for sys in flat pq$M jpq$M; do
  idx="$OUT/$sys"; enc=sentence-transformers/all-MiniLM-L6-v2
  [ "$sys" = "jpq$M" ] && idx="$OUT/jpq$M/index" && enc="$OUT/jpq$M/encoder"
  jpq-pyserini search --index "$idx" --encoder "$enc" --topics jpq-pyserini/scifact/test \
    --output "$OUT/runs/$sys.trec" --hits 1000 --batch-size 64 --threads 1 >/dev/null
done
step "evaluate (ranx; paired t-test against BM25)"
jpq-pyserini eval --qrels jpq-pyserini/scifact/test --metrics ndcg@10 mrr@10 recall@100 --stat-test student \
  --runs "$OUT/runs/bm25.trec" "$OUT/runs/flat.trec" "$OUT/runs/pq$M.trec" "$OUT/runs/jpq$M.trec" \
  --names BM25 flat-MiniLM "PQ$M" "JPQ$M" --output "$OUT/table.md"
echo "table: $OUT/table.md; runs: $OUT/runs/" >&2
