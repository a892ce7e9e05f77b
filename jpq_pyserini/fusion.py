"""Dense + BM25 fusion: Pyserini's ``HybridSearcher`` score, its weight chosen on a dev split.

The score is Pyserini's (``HybridSearcher._hybrid_results``): each side's hits are min-max
normalised per query and summed as ``alpha * bm25 + dense``; a document one side did not
return takes that side's lowest score. Normalisation is on because BM25 scores (tens) and
cosine scores (below one) share no scale, so one ``alpha`` grid fits every collection and
encoder. Pyserini's normalisation divides by each side's score range, which is zero when
BM25 matches one document (short NFCorpus queries do) and raises ZeroDivisionError;
``hybrid_results`` is that function with the range guarded (a side whose hits all score
alike adds the same to each of them), and ``guarded()`` puts it in Pyserini's place while
the hybrid verb runs.
"""
import contextlib
from dataclasses import dataclass

# sparse weight relative to dense, on normalised scores; 0 would be the dense run alone
ALPHAS = tuple(round(0.05 * i, 2) for i in range(1, 41))
NORMALIZATION = True


def searcher(index_dir, encoder_dir, lucene_dir):
    """Pyserini's HybridSearcher over a (JPQ) faiss index dir and a Lucene index."""
    from pyserini.search.faiss import FaissSearcher
    from pyserini.search.hybrid import HybridSearcher
    from pyserini.search.lucene import LuceneSearcher
    from .bm25 import B, K1
    from .query_encoder import JpqQueryEncoder

    sparse = LuceneSearcher(str(lucene_dir))
    sparse.set_bm25(K1, B)
    return HybridSearcher(FaissSearcher(str(index_dir), JpqQueryEncoder(str(encoder_dir))), sparse)


def hybrid_results(dense_results, sparse_results, alpha, k, normalization=False, weight_on_dense=False):
    """``HybridSearcher._hybrid_results``, line for line, with each side's range guarded."""
    from pyserini.search.faiss import DenseSearchResult

    dense_hits = {hit.docid: hit.score for hit in dense_results}
    sparse_hits = {hit.docid: hit.score for hit in sparse_results}
    min_dense, max_dense = (min(dense_hits.values()), max(dense_hits.values())) if dense_hits else (0, 1)
    min_sparse, max_sparse = (min(sparse_hits.values()), max(sparse_hits.values())) if sparse_hits else (0, 1)
    dense_range, sparse_range = (max_dense - min_dense) or 1.0, (max_sparse - min_sparse) or 1.0
    fused = []
    for doc in set(dense_hits) | set(sparse_hits):
        sparse_score = sparse_hits.get(doc, min_sparse)
        dense_score = dense_hits.get(doc, min_dense)
        if normalization:
            sparse_score = (sparse_score - (min_sparse + max_sparse) / 2) / sparse_range
            dense_score = (dense_score - (min_dense + max_dense) / 2) / dense_range
        score = alpha * sparse_score + dense_score if not weight_on_dense else sparse_score + alpha * dense_score
        fused.append(DenseSearchResult(doc, score))
    return sorted(fused, key=lambda x: x.score, reverse=True)[:k]


@contextlib.contextmanager
def guarded():
    from pyserini.search.hybrid import HybridSearcher

    original = HybridSearcher.__dict__["_hybrid_results"]
    HybridSearcher._hybrid_results = staticmethod(hybrid_results)
    try:
        yield
    finally:
        HybridSearcher._hybrid_results = original


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
        """{qid: [DenseSearchResult]}, best first: Pyserini's hybrid ranking at this weight."""
        return {q: hybrid_results(list(hits), list(self.sparse.get(q, [])), alpha, k, NORMALIZATION)
                for q, hits in self.dense.items()}


def choose_alpha(hits, qrels, k, metric="ndcg@10", alphas=ALPHAS):
    """(the weight with the best ``metric`` on ``qrels``, {weight: score}); ties go to the smaller."""
    from ranx import Qrels, Run, evaluate

    qrels = qrels if isinstance(qrels, Qrels) else Qrels(qrels)
    grid = {}
    for alpha in alphas:
        run = Run({q: {h.docid: float(h.score) for h in ranked} for q, ranked in hits.fuse(alpha, k).items()})
        grid[alpha] = float(evaluate(qrels, run, metric, make_comparable=True))
    return max(grid, key=lambda a: (grid[a], -a)), grid
