"""The plugin's path through Pyserini's faiss search: hits kept as arrays, runs written in bulk.

Pyserini's ``FaissSearcher.batch_search`` builds one ``DenseSearchResult`` per hit and its
TREC/MS MARCO writers format one line per call; at k = 1000 that Python work costs as much
as a 4-bit fast-scan search itself. Inside ``jpq-pyserini search`` (Pyserini's own command,
run in this process) ``fast_results()`` swaps in:
  * ``search`` and ``batch_search`` returning ``Hits``: one query's faiss scores and rows, looked up and
    turned into ``DenseSearchResult`` objects only if someone iterates over them (Pyserini's
    ``--remove-query`` and BRIGHT filters do; the writers below do not);
  * TREC and MS MARCO writers that format a query's lines with array operations
    (``runlines.py``), the same bytes as Pyserini's writers (``docid.strip()``, ``{score:.6f}``
    of the float32 score, ranks 1..hits, padding rows of -1 skipped), on a background thread,
    so formatting overlaps the next batch's faiss search (which releases the GIL); the file is
    complete when the writer closes.
Anything else (vectors returned for PRF, normalised distances, max-passage output, KILT)
takes Pyserini's own code unchanged.
"""
import contextlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .runlines import RunFormatter


class Hits:
    """One query's results as arrays, best first (rows -1 are faiss's padding)."""

    def __init__(self, docids, formatter, scores, rows):
        self.docids, self.formatter, self.scores, self.rows = docids, formatter, scores, rows

    def _kept(self):
        keep = self.rows >= 0
        return self.rows[keep], self.scores[keep]

    def __iter__(self):
        from pyserini.search.faiss import DenseSearchResult
        rows, scores = self._kept()
        return iter([DenseSearchResult(self.docids[r], s) for r, s in zip(rows.tolist(), scores)])

    def __len__(self):
        return int((self.rows >= 0).sum())

    def __getitem__(self, i):
        return list(self)[i]

    def lines(self, head, tail, max_hits, trec):
        """The run lines Pyserini's writer would write, joined."""
        rows, scores = self._kept()
        return self.formatter.lines(head, rows[:max_hits], scores[:max_hits], tail, trec)


@contextlib.contextmanager
def fast_results():
    from pyserini import output_writer
    from pyserini.search.faiss import FaissSearcher

    original_search, original_single = FaissSearcher.batch_search, FaissSearcher.search
    original = {cls: cls.write for cls in (output_writer.TrecWriter, output_writer.MsMarcoWriter)}
    original_exit = output_writer.OutputWriter.__exit__

    def hits(self, queries, q_ids, k, threads):
        import faiss
        if getattr(self, "_jpq_formatter", None) is None:
            self._jpq_formatter = RunFormatter(self.docids)
        faiss.omp_set_num_threads(threads)
        scores, rows = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return {qid: Hits(self.docids, self._jpq_formatter, s, r) for qid, s, r in zip(q_ids, scores, rows)}

    def search(self, query, k=10, threads=1, remove_dups=False, return_vector=False):
        if return_vector or remove_dups or self.normalize_distances or isinstance(query, dict):
            return original_single(self, query, k, threads, remove_dups, return_vector)
        emb = self.query_encoder.encode(query) if isinstance(query, str) else np.asarray(query)
        return hits(self, emb.reshape(1, self.dimension), [0], k, threads)[0]

    def batch_search(self, queries, q_ids, k=10, threads=1, return_vector=False):
        if return_vector or self.normalize_distances:
            return original_search(self, queries, q_ids, k, threads, return_vector)
        if not isinstance(queries, np.ndarray):
            if not all(isinstance(q, str) for q in queries):
                return original_search(self, queries, q_ids, k, threads, return_vector)
            encoder = self.query_encoder
            if hasattr(encoder, "encode_batch"):
                queries = np.asarray(encoder.encode_batch(queries))
            else:  # pre-encoded queries (--encoded-queries): a lookup per query, as Pyserini does
                queries = np.array([encoder.encode(q) for q in queries], dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dimension:
            return original_search(self, queries, q_ids, k, threads, return_vector)
        return hits(self, queries, q_ids, k, threads)

    def make_write(cls):
        trec = cls is output_writer.TrecWriter

        def write(self, topic, hits):
            if not isinstance(hits, Hits) or self.use_max_passage:
                return original[cls](self, topic, hits)
            pool = self.__dict__.setdefault("_jpq_pool", ThreadPoolExecutor(1, thread_name_prefix="jpq-writer"))
            head, tail = (f"{topic} Q0 ", self.tag) if trec else (f"{topic}\t", "")
            out = self._file
            # one worker thread, so queries are written in the order they arrive
            self.__dict__.setdefault("_jpq_jobs", []).append(
                pool.submit(lambda: out.write(hits.lines(head, tail, self.max_hits, trec))))
        return write

    def exit(self, *exc):
        pool = self.__dict__.pop("_jpq_pool", None)
        if pool is not None:
            pool.shutdown(wait=True)
            for job in self.__dict__.pop("_jpq_jobs", []):
                job.result()  # a formatting error surfaces here, before the file is closed
        return original_exit(self, *exc)

    FaissSearcher.batch_search, FaissSearcher.search = batch_search, search
    for cls in original:
        cls.write = make_write(cls)
    output_writer.OutputWriter.__exit__ = exit
    try:
        yield
    finally:
        FaissSearcher.batch_search, FaissSearcher.search = original_search, original_single
        for cls, write in original.items():
            cls.write = write
        output_writer.OutputWriter.__exit__ = original_exit
