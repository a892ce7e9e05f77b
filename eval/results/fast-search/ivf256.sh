#!/bin/bash
# IVF with a finer coarse quantizer: IVF256 + PQ96x4 fast-scan (about 4 sqrt(N) lists on both
# collections, the low end of faiss's guidance), trained with train's defaults, searched at
# nprobe 64 (NLIST/4) and 16 (NLIST/16, index's default), beside JPQ48x8 (reproduce's jpq48).
# Run `make scifact-quick` and `make nfcorpus` first: their jpq48 runs and cached flat indexes.
export HF_HUB_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE TQDM_DISABLE=1
J=.venv/bin/jpq-pyserini
D=$(realpath ../shared/data/nfcorpus)
W=runs/ivf256; mkdir -p $W
for c in sf nfc; do
  if [ $c = sf ]; then TR=jpq-pyserini/scifact/train/fit; DV=jpq-pyserini/scifact/train/dev; T=jpq-pyserini/scifact/test; R=runs/scifact-quick;
  else TR=$D/train/fit; DV=$D/train/dev; T=$D/dev; R=runs/nfcorpus; fi
  F=$(ls -d ~/.cache/jpq_pyserini/artifacts/flat-$([ $c = sf ] && echo d1a7dbe540 || echo 0502aa4922))  # encode's output
  [ -d $W/$c-ivf256-opq96x4fs ] || $J index --input $F --output $W/$c-ivf256-opq96x4fs --pq-m 96 --pq-nbits 4 --fast-scan --ivf 256 --nprobe 64
  [ -f $W/$c-jpq/train_summary.json ] || $J train --index $W/$c-ivf256-opq96x4fs --train $TR --dev $DV --output $W/$c-jpq --threads 2 --overwrite 2> $W/$c-train.log
  for p in 16 64 256; do
    $J search --index $W/$c-jpq/index --encoder $W/$c-jpq/encoder --topics $T --output $W/$c-nprobe$p.trec --hits 1000 --threads 2 --batch-size 64 --nprobe $p > /dev/null 2>&1
  done
  $J eval --qrels $T --runs $R/runs/jpq48.trec $W/$c-nprobe16.trec $W/$c-nprobe64.trec $W/$c-nprobe256.trec > $W/$c-eval.md 2>&1
done
echo done
