"""What faiss's 4-bit fast-scan costs a trained index: its search ranks by lookup tables
quantised to 8 bits, which training does not see. Same codes, same centroids, same queries:

    python benchmarks/lut_gap.py --index runs/jpq96x4/index --encoder runs/jpq96x4/encoder \
        --topics jpq-pyserini/scifact/test

prints nDCG@10 / MRR@10 / R@100 of faiss's own search (what Pyserini's FaissSearcher returns)
against exact float scores over the same codes (torch, ``PQCodebook``), the largest score
difference on the documents faiss returns, and the overlap of the two top-100 lists. Works on
any index ``train`` accepts; for 8-bit ``IndexPQ`` both rows should agree.
"""
import argparse
from pathlib import Path

import numpy as np
import torch

from jpq_pyserini.codebook import PQCodebook
from jpq_pyserini.datasets import judged_queries
from jpq_pyserini.encoder import CONFIG_FILE, QUERY_MAX_LENGTH, TextEncoder
from jpq_pyserini.indexdir import read_index_dir
from jpq_pyserini.retrieval import Retriever, evaluate_dev, text_queries


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--index", required=True)
    p.add_argument("--encoder", required=True)
    p.add_argument("--topics", required=True, help="queries with qrels (ir_datasets id or local collection split)")
    args = p.parse_args()
    index, docids, meta = read_index_dir(args.index)
    encoder = TextEncoder(args.encoder)
    if not (Path(encoder.path) / CONFIG_FILE).exists():  # as search's JpqQueryEncoder: the query length
        encoder.config.max_length = QUERY_MAX_LENGTH
    split = judged_queries(args.topics, {d: i for i, d in enumerate(docids)}, "--topics")
    codebook = PQCodebook.from_faiss(index)
    exact, lut = Retriever(codebook, index, mining="torch"), Retriever(codebook, index, mining="faiss")
    q = torch.as_tensor(encoder.encode([split.texts[i] for i in split.qids]))
    (fs, fr), (_, er) = lut.search(q, 100), exact.search(q, 100)
    gap = (fs - codebook.score_pairs(q, fr.clamp(min=0))).abs()[fr >= 0].max().item()
    overlap = np.mean([len(set(a.tolist()) & set(b.tolist())) / 100 for a, b in zip(fr, er)])
    print(f"{args.index} ({meta.get('pq_m')}x{meta.get('pq_nbits')}"
          f"{' fast-scan' if meta.get('fast_scan') else ''}{', IVF' if meta.get('ivf') else ''}), {args.topics}, "
          f"{len(split.qids)} queries: max |faiss score - exact score| {gap:.2e}, top-100 overlap {overlap:.3f}")
    print("| scoring | ndcg@10 | mrr@10 | recall@100 |\n|---|---:|---:|---:|")
    for name, retriever in (("faiss search (what Pyserini ranks by)", lut), ("exact float scores, same codes", exact)):
        m = evaluate_dev(text_queries(encoder, split), retriever, split, docids)
        print(f"| {name} | {m['ndcg@10']:.4f} | {m['mrr@10']:.4f} | {m['recall@100']:.4f} |")


if __name__ == "__main__":
    main()
