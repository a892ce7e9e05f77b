"""Dense + BM25 fusion: Pyserini's ``HybridSearcher`` score, its weight chosen on a dev split.

The score is Pyserini's own (``HybridSearcher._hybrid_results``): each side's hits are
min-max normalised per query and summed as ``alpha * bm25 + dense``; a document one side
did not return takes that side's lowest score. Normalisation is on because BM25 scores
(tens) and cosine scores (below one) share no scale, so one ``alpha`` grid fits every
collection and encoder.
"""
from dataclasses import dataclass

# sparse weight relative to dense, on normalised scores; 0 would be the dense run alone
ALPHAS = tuple(round(0.05 * i, 2) for i in range(1, 41))
NORMALIZATION = True
BM25 = (0.9, 0.4)  # Pyserini's defaults (k1, b), as the bm25 verb


def searcher(index_dir, encoder_dir, lucene_dir):
    """Pyserini's HybridSearcher over a (JPQ) faiss index dir and a Lucene index."""
    from pyserini.search.faiss import FaissSearcher
    from pyserini.search.hybrid import HybridSearcher
    from pyserini.search.lucene import LuceneSearcher
    from .query_encoder import JpqQueryEncoder

    sparse = LuceneSearcher(str(lucene_dir))
    sparse.set_bm25(*BM25)
    return HybridSearcher(FaissSearcher(str(index_dir), JpqQueryEncoder(str(encoder_dir))), sparse)


@dataclass
class SideHits:
    """Each side's hits for a set of queries, searched once so that every weight reuses them."""
    dense: dict
    sparse: dict

    @classmethod
    def search(cls, hybrid, queries, k0, threads=1):
        qids, texts = [q for q, _ in queries], [t for _, t in queries]
        return cls(hybrid.dense_searcher.batch_search(texts, qids, k0, threads),
                   hybrid.sparse_searcher.batch_search(texts, qids, k0, threads))

    def fuse(self, alpha, k):
        """{qid: [(docid, score)]}, best first: Pyserini's hybrid ranking at this weight."""
        from pyserini.search.hybrid import HybridSearcher

        return {q: [(h.docid, h.score) for h in HybridSearcher._hybrid_results(
                    list(hits), list(self.sparse.get(q, [])), alpha, k, NORMALIZATION)]
                for q, hits in self.dense.items()}


def choose_alpha(hits, qrels, k, metric="ndcg@10", alphas=ALPHAS):
    """(the weight with the best ``metric`` on ``qrels``, {weight: score}); ties go to the smaller."""
    from ranx import Qrels, Run, evaluate

    qrels = qrels if isinstance(qrels, Qrels) else Qrels(qrels)
    grid = {}
    for alpha in alphas:
        run = Run({q: {d: float(s) for d, s in ranked} for q, ranked in hits.fuse(alpha, k).items()})
        grid[alpha] = float(evaluate(qrels, run, metric, make_comparable=True))
    return max(grid, key=lambda a: (grid[a], -a)), grid
