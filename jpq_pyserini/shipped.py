"""The SciFact copy that ships with the package, served offline under ``jpq-pyserini/scifact...``."""
from pathlib import Path

import ir_datasets
from ir_datasets.datasets.beir import BeirQrels, BeirQueries
from ir_datasets.formats import GenericQuery
from ir_datasets.util import Cache, GzipExtract, LocalDownload

from .formats import BeirCorpus
from .fsutil import cache_dir
from .splits import beir_splits

NAME = "jpq-pyserini"
SCIFACT_DIR = Path(__file__).parent / "data" / "scifact"


def _shipped_scifact():
    cache = cache_dir("datasets", "scifact")

    def unpacked(name):
        return Cache(GzipExtract(LocalDownload(SCIFACT_DIR / f"{name}.gz", mkdir=False)), cache / name)

    docs = BeirCorpus("scifact", unpacked("corpus.jsonl"), cache)
    queries = BeirQueries("scifact", unpacked("queries.jsonl"), GenericQuery)
    qrels = {s: BeirQrels(LocalDownload(SCIFACT_DIR / "qrels" / f"{s}.tsv", mkdir=False), {1: "relevant"})
             for s in ("train", "test")}
    return beir_splits(docs, queries, qrels)


def register():
    """Register the shipped collection under ``jpq-pyserini/scifact...`` (idempotent)."""
    if f"{NAME}/scifact" in ir_datasets.registry:
        return
    for split, ds in _shipped_scifact().items():
        ir_datasets.registry.register(f"{NAME}/scifact" + (f"/{split}" if split else ""), ds)
