"""Pyserini's dense pseudo-relevance feedback over flat, OPQ48 and JPQ48 indexes.

    python eval/prf.py        # SciFact test and NFCorpus dev (the selection split)

PRF reconstructs its feedback documents through faiss (``search_and_reconstruct``): on a PQ
index, the decoding of their codes, rotated back by the orthonormal OPQ matrix. Runs go
through ``jpq-pyserini search --prf-depth N --prf-method avg|rocchio`` (Rocchio with
Pyserini's alpha 0.9, beta 0.1 and its top N documents as positives); the table goes to
eval/results/portable/prf.md.
"""
from experiments import ROOT, score, systems, write_table

SETTINGS = [("none", [])] + [(f"{method} depth {depth}", ["--prf-depth", depth, "--prf-method", method]
                              + (["--rocchio-topk", depth] if method == "rocchio" else []))
                             for method in ("avg", "rocchio") for depth in (3, 10)]


def main():
    rows = []
    for collection in ("scifact", "nfcorpus"):
        spec, built, _ = systems(collection)
        for name in ("flat", "opq48", "jpq48"):
            system = built[name]
            scores = [score(system.index_dir, system.encoder, spec,
                            ROOT / "runs" / "prf" / collection / f"{name}.{label.replace(' ', '')}", *flags)
                      for label, flags in SETTINGS]
            rows.append([collection, name] + [f"{s['ndcg@10']:.4f} / {s['recall@100']:.4f}" for s in scores])
    write_table("prf", ["collection (split)", "index"] + [label for label, _ in SETTINGS], rows, "python eval/prf.py")


if __name__ == "__main__":
    main()
