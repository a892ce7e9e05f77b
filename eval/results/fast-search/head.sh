#!/bin/bash
# The fast-scan and IVF rows with the query-head recipe (--fine-tune off: the query head on the frozen encoder).
export HF_HUB_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE TQDM_DISABLE=1
J=.venv/bin/jpq-pyserini
D=$(realpath ../shared/data/nfcorpus)
W=runs/fast6; mkdir -p $W
for c in sf nfc; do
  if [ $c = sf ]; then S=runs/fast; TR=jpq-pyserini/scifact/train/fit; DV=jpq-pyserini/scifact/train/dev; T=jpq-pyserini/scifact/test;
  else S=runs/fast/nfc; TR=$D/train/fit; DV=$D/train/dev; T=$D/dev; fi
  F=~/.cache/jpq_pyserini/artifacts/$([ $c = sf ] && echo flat-d1a7dbe540 || echo flat-0502aa4922)  # encode's output
  [ -d $S/opq96x4fs ] || $J index --input $F --output $S/opq96x4fs --pq-m 96 --pq-nbits 4 --fast-scan
  [ -d $S/ivf64-opq96x4fs ] || $J index --input $F --output $S/ivf64-opq96x4fs --pq-m 96 --pq-nbits 4 --fast-scan --ivf 64 --nprobe 16
  for n in opq96x4fs ivf64-opq96x4fs; do
    [ -f $W/$c-jpq-$n/train_summary.json ] || $J train --index $S/$n --train $TR --dev $DV --output $W/$c-jpq-$n --fine-tune off --threads 2 --overwrite 2> $W/$c-train-$n.log
    $J search --index $W/$c-jpq-$n/index --encoder $W/$c-jpq-$n/encoder --topics $T --output $W/$c-$n.trec --hits 1000 --threads 2 --batch-size 64 > /dev/null 2>&1
  done
  $J search --index $W/$c-jpq-ivf64-opq96x4fs/index --encoder $W/$c-jpq-ivf64-opq96x4fs/encoder --topics $T --output $W/$c-ivf64-nprobe64.trec --hits 1000 --threads 2 --batch-size 64 --nprobe 64 > /dev/null 2>&1
  $J eval --qrels $T --runs $W/$c-opq96x4fs.trec $W/$c-ivf64-opq96x4fs.trec $W/$c-ivf64-nprobe64.trec > $W/$c-eval.md 2>&1
done
# SciFact, fast-scan, the transformer fine-tuned too
$J train --index runs/fast/opq96x4fs --train jpq-pyserini/scifact/train/fit --dev jpq-pyserini/scifact/train/dev \
  --output $W/sf-jpq-opq96x4fs-lr1e-4 --fine-tune joint --lr 1e-4 --threads 2 --overwrite
$J search --index $W/sf-jpq-opq96x4fs-lr1e-4/index --encoder $W/sf-jpq-opq96x4fs-lr1e-4/encoder \
  --topics jpq-pyserini/scifact/test --output $W/sf-opq96x4fs-lr1e-4.trec --hits 1000 --threads 1 --batch-size 64
$J eval --qrels jpq-pyserini/scifact/test --runs $W/sf-opq96x4fs.trec $W/sf-opq96x4fs-lr1e-4.trec
# NFCorpus, fast-scan, the transformer fine-tuned too
$J train --index runs/fast/nfc/opq96x4fs --train $D/train/fit --dev $D/train/dev --output $W/nfc-jpq-opq96x4fs-lr1e-4 \
  --fine-tune joint --lr 1e-4 --threads 1 --overwrite
$J search --index $W/nfc-jpq-opq96x4fs-lr1e-4/index --encoder $W/nfc-jpq-opq96x4fs-lr1e-4/encoder \
  --topics $D/dev --output $W/nfc-opq96x4fs-lr1e-4.trec --hits 1000 --threads 2 --batch-size 64
$J eval --qrels $D/dev --runs $W/nfc-opq96x4fs.trec $W/nfc-opq96x4fs-lr1e-4.trec
echo done
