"""How a collection's queries divide into splits, and the fixed dev carve of a train split."""
import random

from ir_datasets.datasets.base import Dataset, FilteredQrels, FilteredQueries
from ir_datasets.util import Lazy

# The dev carve is part of the contract: changing the seed or fraction changes every
# number selected on dev, so both are fixed here.
DEV_SEED = 2108  # arXiv 2108.00644
DEV_FRACTION = 0.10


def qids(qrels):
    """The judged query ids of a qrels object, read when first needed."""
    return Lazy(lambda: {q.query_id for q in qrels.qrels_iter()})


def _dev_qids(train_qrels):
    def carve():
        judged = sorted({q.query_id for q in train_qrels.qrels_iter()})
        k = round(len(judged) * DEV_FRACTION)
        return set(random.Random(DEV_SEED).sample(judged, k))
    return Lazy(carve)


def dev_carve(docs, queries, qrels):
    """train/dev and train/fit: a fixed, seeded carve of a train split's judged queries."""
    dev = _dev_qids(qrels)
    return {"train/dev": Dataset(*docs, FilteredQueries(queries, dev), FilteredQrels(qrels, dev)),
            "train/fit": Dataset(*docs, FilteredQueries(queries, dev, mode="exclude"),
                                 FilteredQrels(qrels, dev, mode="exclude"))}


def beir_splits(docs, queries, qrels_by_split):
    """Datasets for a BEIR-style collection (one query file for every split): '' (docs + all
    queries) and each split, its queries the judged ones."""
    docs = [docs] if docs is not None else []
    out = {"": Dataset(*docs, queries)}
    for split, qrels in qrels_by_split.items():
        split_queries = FilteredQueries(queries, qids(qrels))
        out[split] = Dataset(*docs, split_queries, qrels)
        if split == "train":
            out.update(dev_carve(docs, split_queries, qrels))
    return out
