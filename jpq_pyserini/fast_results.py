"""The plugin's path through Pyserini's faiss search: hits kept as arrays, runs written in bulk.

Pyserini's ``FaissSearcher.batch_search`` builds one ``DenseSearchResult`` per hit and its
TREC/MS MARCO writers format one line per call; at k = 1000 that Python work costs as much
as a 4-bit fast-scan search itself. Inside ``jpq-pyserini search`` (Pyserini's own command,
run in this process) ``fast_results()`` swaps in:
  * ``search`` and ``batch_search`` returning ``Hits``: one query's faiss scores and rows, looked up and
    turned into ``DenseSearchResult`` objects only if someone iterates over them (Pyserini's
    ``--remove-query`` and BRIGHT filters do; the writers below do not);
  * TREC and MS MARCO writers that format each search batch's lines in one job, with array
    operations (``runlines.py``), the same bytes as Pyserini's writers (``docid.strip()``, ``{score:.6f}``
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


class Batch:
    """One faiss search: scores and rows [queries, k], best first (rows -1 are faiss's padding)."""

    def __init__(self, docids, formatter, scores, rows):
        self.docids, self.formatter, self.scores, self.rows = docids, formatter, scores, rows


class Hits:
    """One query's results in a ``Batch``; ``DenseSearchResult`` objects only if iterated."""

    def __init__(self, batch, i):
        self.batch, self.i = batch, i

    def _kept(self):
        rows, scores = self.batch.rows[self.i], self.batch.scores[self.i]
        return rows[rows >= 0], scores[rows >= 0]

    def __iter__(self):
        from pyserini.search.faiss import DenseSearchResult
        rows, scores = self._kept()
        return iter([DenseSearchResult(self.batch.docids[r], s) for r, s in zip(rows.tolist(), scores)])

    def __len__(self):
        return int((self.batch.rows[self.i] >= 0).sum())

    def __getitem__(self, i):
        return list(self)[i]


# Pyserini's own methods while fast_results() is active: (class, name) -> function
_ORIGINAL = {}


def _original(obj, name):
    return next(_ORIGINAL[c, name] for c in type(obj).__mro__ if (c, name) in _ORIGINAL)


def _hits(self, queries, q_ids, k, threads):
    import faiss
    if getattr(self, "_jpq_formatter", None) is None:
        self._jpq_formatter = RunFormatter(self.docids)
    if faiss.omp_get_max_threads() != threads:  # setting it costs milliseconds even when unchanged
        faiss.omp_set_num_threads(threads)
    scores, rows = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    batch = Batch(self.docids, self._jpq_formatter, scores, rows)
    return {qid: Hits(batch, i) for i, qid in enumerate(q_ids)}


def _search(self, query, k=10, threads=1, remove_dups=False, return_vector=False):
    if return_vector or remove_dups or self.normalize_distances or isinstance(query, dict):
        return _original(self, "search")(self, query, k, threads, remove_dups, return_vector)
    emb = self.query_encoder.encode(query) if isinstance(query, str) else np.asarray(query)
    return _hits(self, emb.reshape(1, self.dimension), [0], k, threads)[0]


def _batch_search(self, queries, q_ids, k=10, threads=1, return_vector=False):
    original = _original(self, "batch_search")
    if return_vector or self.normalize_distances:
        return original(self, queries, q_ids, k, threads, return_vector)
    if not isinstance(queries, np.ndarray):
        if not all(isinstance(q, str) for q in queries):
            return original(self, queries, q_ids, k, threads, return_vector)
        encoder = self.query_encoder
        if hasattr(encoder, "encode_batch"):
            queries = np.asarray(encoder.encode_batch(queries))
        else:  # pre-encoded queries (--encoded-queries): a lookup per query, as Pyserini does
            queries = np.array([encoder.encode(q) for q in queries], dtype=np.float32)
    if queries.ndim != 2 or queries.shape[1] != self.dimension:
        return original(self, queries, q_ids, k, threads, return_vector)
    return _hits(self, queries, q_ids, k, threads)


def _write(self, topic, hits):
    if not isinstance(hits, Hits) or self.use_max_passage:
        _drain(self)  # what is queued goes first
        return _original(self, "write")(self, topic, hits)
    pending = self.__dict__.setdefault("_jpq_pending", [])
    if pending and pending[0][1].batch is not hits.batch:
        _flush(self)
    pending.append((topic, hits))
    if len(pending) == len(hits.batch.rows):  # the whole batch: format it while the next is searched
        _flush(self)


def _flush(self):
    """Queue one formatting job for the pending queries of one batch."""
    from pyserini import output_writer
    pending = self.__dict__.pop("_jpq_pending", [])
    if not pending:
        return
    trec = isinstance(self, output_writer.TrecWriter)
    batch, picked = pending[0][1].batch, [h.i for _, h in pending]
    heads = [f"{topic} Q0 " if trec else f"{topic}\t" for topic, _ in pending]
    tail, max_hits, out = (self.tag if trec else ""), self.max_hits, self._file
    pool = self.__dict__.setdefault("_jpq_pool", ThreadPoolExecutor(1, thread_name_prefix="jpq-writer"))
    # one worker thread, so batches are written in the order they arrive
    self.__dict__.setdefault("_jpq_jobs", []).append(pool.submit(
        lambda: out.write(batch.formatter.lines(heads, batch.rows[picked], batch.scores[picked], tail, trec, max_hits))))


def _drain(self):
    _flush(self)
    for job in self.__dict__.pop("_jpq_jobs", []):
        job.result()  # a formatting error surfaces here, before the file is closed


def _exit(self, *exc):
    _drain(self)
    pool = self.__dict__.pop("_jpq_pool", None)
    if pool is not None:
        pool.shutdown(wait=True)
    return _original(self, "__exit__")(self, *exc)


@contextlib.contextmanager
def fast_results():
    from pyserini import output_writer
    from pyserini.search.faiss import FaissSearcher

    patches = {(FaissSearcher, "batch_search"): _batch_search, (FaissSearcher, "search"): _search,
               (output_writer.TrecWriter, "write"): _write, (output_writer.MsMarcoWriter, "write"): _write,
               (output_writer.TrecWriter, "__exit__"): _exit, (output_writer.MsMarcoWriter, "__exit__"): _exit}
    saved = {key: key[0].__dict__.get(key[1]) for key in patches}  # None: inherited, nothing to put back
    _ORIGINAL.update({key: getattr(*key) for key in patches})
    for (cls, name), fn in patches.items():
        setattr(cls, name, fn)
    try:
        yield
    finally:
        for (cls, name), fn in saved.items():
            if fn is None:
                delattr(cls, name)
            else:
                setattr(cls, name, fn)
