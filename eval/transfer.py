"""Zero-shot transfer of a trained JPQ48 model to a corpus it never saw, both ways.

    python eval/transfer.py   # SciFact <-> NFCorpus; reported on SciFact test and NFCorpus dev

The source model's index quantizes the target corpus's flat vectors (``jpq-pyserini index
--input TARGET_FLAT --codebook SOURCE_JPQ/index``) and its encoder searches them; rows beside
it: the target's flat index, OPQ48 built on the target, and JPQ48 trained on the target.
The table goes to eval/results/portable/transfer.md.
"""
from experiments import ROOT, score, systems, write_table

NAMES = {"scifact": "SciFact test", "nfcorpus": "NFCorpus dev (selection split)"}


def main():
    from jpq_pyserini.index import index_with_codebook

    built = {c: systems(c) for c in NAMES}
    rows = []
    for source, target in (("scifact", "nfcorpus"), ("nfcorpus", "scifact")):
        spec, tgt = built[target]
        src = built[source][1]["jpq48"]
        transferred = ROOT / "runs" / "transfer" / f"{source}-jpq48-on-{target}"
        if not transferred.exists():
            index_with_codebook(tgt["flat"].index_dir, transferred, src.index_dir)
        cells = {}
        for label, index, encoder in [("flat", tgt["flat"].index_dir, tgt["flat"].encoder),
                                      ("OPQ48 (target)", tgt["opq48"].index_dir, tgt["opq48"].encoder),
                                      (f"JPQ48 trained on {target}", tgt["jpq48"].index_dir, tgt["jpq48"].encoder),
                                      (f"JPQ48 trained on {source}", transferred, src.encoder)]:
            s = score(index, encoder, spec, ROOT / "runs" / "transfer" / target / label.replace(" ", "_"))
            cells[label] = f"{s['ndcg@10']:.4f} / {s['recall@100']:.4f}"
        rows.append([NAMES[target], *cells.values()])
    write_table("transfer", ["target (split)", "flat", "OPQ48 built on target", "JPQ48 trained on target",
                             "JPQ48 trained on the other corpus (zero-shot)"], rows, "python eval/transfer.py")


if __name__ == "__main__":
    main()
