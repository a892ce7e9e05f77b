#!/bin/bash
# Wall clock of train's two recipes on SciFact OPQ48, one after the other on an otherwise idle
# machine (check `uptime` first): --fine-tune off (the head alone) and the default (auto).
# OPQ48: reproduce's cached opq48 index of the default seed (make scifact-quick first).
export HF_HUB_OFFLINE=1 TQDM_DISABLE=1
J=.venv/bin/jpq-pyserini
I=$(dirname $(grep -l "\"corpus\": \"jpq-pyserini/scifact\"" ~/.cache/jpq_pyserini/artifacts/opq48-*/meta.json | head -1))
O=eval/results/fine-tune
for mode in off auto; do
  uptime > $O/timing-idle-$mode.time
  /usr/bin/time -v $J train --index $I --train jpq-pyserini/scifact/train/fit --dev jpq-pyserini/scifact/train/dev \
    --output runs/timing/$mode --fine-tune $mode --threads 2 --overwrite 2>&1 > /dev/null \
    | tr '\r' '\n' | grep -v "^jpq train\|^\s*$" >> $O/timing-idle-$mode.time
  grep "Elapsed\|Maximum resident\|load average" $O/timing-idle-$mode.time
done
