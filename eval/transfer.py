"""Zero-shot transfer of a trained JPQ48 model to a corpus it never saw, both ways.

    python eval/transfer.py   # SciFact <-> NFCorpus; reported on SciFact test and NFCorpus dev

The source model's index quantizes the target corpus's flat vectors (``jpq-pyserini index
--input TARGET_FLAT --codebook SOURCE_JPQ/index``) and its encoder searches them; beside it:
the target's flat index, the index built on the target that JPQ would start from, JPQ48 trained
on the target, and the source's untrained start index as the codebook with the untrained
encoder (what the codebook's fit alone costs). The table goes to eval/results/portable/transfer.md.
"""
from experiments import ROOT, score, systems, write_table

NAMES = {"scifact": "SciFact test", "nfcorpus": "NFCorpus dev (selection split)"}


def main():
    from jpq_pyserini.index import index_with_codebook

    built = {c: systems(c) for c in NAMES}
    rows = []
    for source, target in (("scifact", "nfcorpus"), ("nfcorpus", "scifact")):
        spec, tgt, tgt_start = built[target]
        _, src, src_start = built[source]
        cells = []
        for label, index, encoder, codebook in [
                ("flat", tgt["flat"].index_dir, tgt["flat"].encoder, None),
                ("start", tgt[tgt_start].index_dir, tgt[tgt_start].encoder, None),
                ("jpq48", tgt["jpq48"].index_dir, tgt["jpq48"].encoder, None),
                (f"{source}-{src_start}", None, src[src_start].encoder, src[src_start].index_dir),
                (f"{source}-jpq48", None, src["jpq48"].encoder, src["jpq48"].index_dir)]:
            if codebook is not None:  # the target's documents quantized with the source's model
                index = ROOT / "runs" / "transfer" / f"{label}-on-{target}"
                if not index.exists():
                    index_with_codebook(tgt["flat"].index_dir, index, codebook)
            s = score(index, encoder, spec, ROOT / "runs" / "transfer" / target / f"{label}.trec")
            cells.append(f"{s['ndcg@10']:.4f} / {s['recall@100']:.4f}")
        rows.append([NAMES[target], f"{tgt_start.upper()} / {src_start.upper()}", *cells])
    write_table("transfer", ["target (split)", "start index: target / source", "flat", "target's start index",
                             "JPQ48 trained on target", "source's start index as codebook (untrained encoder)",
                             "JPQ48 trained on source (zero-shot)"], rows, "python eval/transfer.py")


if __name__ == "__main__":
    main()
