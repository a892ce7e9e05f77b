"""Where an IVF index's lists should come from once JPQ has moved the centroids and the query side.

    python eval/ivf_lists.py TRAINED_DIR FLAT_DIR --topics T [--nlist 64] [--nprobe 16 32]

``index --ivf NLIST`` cuts the lists by k-means over the documents' vectors as the encoder wrote
them; JPQ then scores a trained query against the documents' trained reconstructions. This
script puts one trained model's codes (``TRAINED_DIR``: ``train``'s output, an index and
encoder dir; ``FLAT_DIR``: the flat index its documents came from) into lists cut in several
ways, with the same codes and centroids, so that only which documents a probe reaches differs,
and scores each on ``--topics`` (nDCG@10, R@100) against the exhaustive search.
"""
import argparse
import sys

import faiss
import numpy as np
import torch
from faiss.contrib.inspect_tools import get_pq_centroids

from jpq_pyserini.codebook import PQCodebook, split_index
from jpq_pyserini.datasets import iter_queries, load_dataset, load_qrels
from jpq_pyserini.eval import evaluate
from jpq_pyserini.indexdir import flat_vectors, read_index_dir
from jpq_pyserini.query_encoder import JpqQueryEncoder

SEED = 1234


def kmeans(vectors, nlist, spherical=False):
    km = faiss.Kmeans(vectors.shape[1], nlist, niter=20, seed=SEED, spherical=spherical)
    km.train(vectors)
    return km.centroids


def nearest(centroids, vectors):
    quantizer = faiss.IndexFlatIP(centroids.shape[1])
    quantizer.add(centroids)
    return quantizer.search(vectors, 1)[1].ravel()


def member_means(lists, vectors, nlist):
    sums = np.zeros((nlist, vectors.shape[1]), dtype=np.float32)
    np.add.at(sums, lists, vectors)
    return sums / np.maximum(np.bincount(lists, minlength=nlist), 1)[:, None]


def ivf_with(pq, codes, centroids, lists):
    """An ``IndexIVFPQ`` (shared codebook) holding ``codes`` in ``lists``, routed by ``centroids``."""
    nlist, d = centroids.shape
    quantizer = faiss.IndexFlatIP(d)
    quantizer.add(centroids)
    ivf = faiss.IndexIVFPQ(quantizer, d, nlist, pq.M, pq.nbits, faiss.METRIC_INNER_PRODUCT)
    ivf.by_residual, ivf.is_trained = False, True
    faiss.copy_array_to_vector(get_pq_centroids(pq).ravel(), ivf.pq.centroids)
    packed = codes if pq.nbits == 8 else codes[:, 0::2] | (codes[:, 1::2] << 4)
    for lst in range(nlist):
        rows = np.flatnonzero(lists == lst).astype(np.int64)
        if len(rows):
            block = np.ascontiguousarray(packed[rows])  # named: swig_ptr alone keeps no reference
            ivf.invlists.add_entries(lst, len(rows), faiss.swig_ptr(rows), faiss.swig_ptr(block))
    ivf.ntotal = len(codes)
    return ivf  # faiss's wrapper keeps the quantizer alive with it


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("trained", help="train's output dir (index/, encoder/)")
    p.add_argument("flat", help="the flat index dir the trained index's documents came from")
    p.add_argument("--topics", required=True, help="a split with queries and qrels")
    p.add_argument("--nlist", type=int, default=64)
    p.add_argument("--nprobe", type=int, nargs="+", default=[16, 32])
    args = p.parse_args(argv)

    index, docids, _ = read_index_dir(f"{args.trained}/index")
    flat, flat_docids, _ = read_index_dir(args.flat)
    if list(flat_docids) != list(docids):
        sys.exit(f"{args.flat}: not the documents of {args.trained}/index, in its order")
    rotation, inner = split_index(index)
    vectors = flat_vectors(flat)
    rotated = vectors if rotation is None else vectors @ rotation.T
    scorer = PQCodebook.from_faiss(index)
    with torch.no_grad():
        recon = scorer.reconstruct(torch.arange(scorer.ntotal)).numpy()
    codes = scorer.codes.numpy()

    dataset = load_dataset(args.topics, "--topics")
    qrels = load_qrels(dataset, args.topics)
    queries = [(q, text) for q, text in iter_queries(dataset, args.topics) if q in qrels]
    q = JpqQueryEncoder(f"{args.trained}/encoder").encode_batch([text for _, text in queries]).astype(np.float32)
    q = q if rotation is None else q @ rotation.T

    def score(searcher):
        dist, ids = searcher.search(q, 1000)
        run = {qid: {docids[j]: float(s) for s, j in zip(dist[i], ids[i]) if j >= 0} for i, (qid, _) in enumerate(queries)}
        return evaluate(qrels, run, ("ndcg@10", "recall@100"))

    nlist = args.nlist
    original = kmeans(rotated, nlist)
    by_original = nearest(original, rotated)
    by_recon = nearest(original, recon)
    recon_centroids = kmeans(recon, nlist)
    spherical = kmeans(recon, nlist, spherical=True)
    cuts = {
        "k-means over the encoder's vectors (`index --ivf`)": (original, by_original),
        "the same lists, routed by their members' mean trained reconstruction": (
            member_means(by_original, recon, nlist), by_original),
        "the same centroids, documents listed by their trained reconstruction": (original, by_recon),
        "k-means over the trained reconstructions": (recon_centroids, nearest(recon_centroids, recon)),
        "spherical k-means over the trained reconstructions": (spherical, nearest(spherical, recon)),
    }
    exhaustive = score(inner)
    print(f"{args.trained} on {args.topics}: {len(queries)} queries, {scorer.ntotal} documents, IVF{nlist}\n")
    print("| lists | nprobe | nDCG@10 | R@100 | list sizes |")
    print("|---|---:|---:|---:|---|")
    print(f"| none (exhaustive) | | {exhaustive['ndcg@10']:.4f} | {exhaustive['recall@100']:.4f} | |")
    for name, (centroids, lists) in cuts.items():
        ivf = ivf_with(inner.pq, codes, centroids, lists)
        sizes = np.bincount(lists, minlength=nlist)
        for nprobe in args.nprobe:
            ivf.nprobe = nprobe
            got = score(ivf)
            print(f"| {name} | {nprobe} | {got['ndcg@10']:.4f} | {got['recall@100']:.4f} | "
                  f"{sizes.min()} to {sizes.max()} |")


if __name__ == "__main__":
    main()
