"""Run lines for queries' hits, built with array operations, byte for byte Pyserini's writers.

Pyserini's TREC writer formats one f-string per hit (``{docid} {rank} {score:.6f}``): 1-3 ms
per query at k = 1000, as long as a 4-bit fast-scan search over 1M documents and ten times an
IVF one. Here a batch of queries' lines is one byte matrix, a row per hit and a column block
per field, padded with NUL bytes that one boolean mask then drops: docids come from a padded matrix of all
(stripped) docids, ranks from a table, and scores are printed as fixed-point integers (a
float32 times 10^6 is exact in float64, and ``np.rint`` rounds half to even, as Python's
``%.6f`` does). Docids holding NUL bytes, non-finite or huge scores, and docid tables that
would not fit ``MAX_TABLE_BYTES`` take Python's formatting instead.
"""
import numpy as np

MAX_TABLE_BYTES = 512 * 2**20
_LIMIT = 1e12  # larger scores take Python's formatting (int64 fixed point stays exact below)
_TRIPLES = np.array([list(f"{i:03d}".encode()) for i in range(1000)], dtype=np.uint8)
_SPACE, _TAB, _NEWLINE = (np.frombuffer(c, dtype=np.uint8) for c in (b" ", b"\t", b"\n"))


def _padded(strings):
    """[n, longest] uint8, NUL-padded on the right."""
    table = np.array([s.encode() for s in strings], dtype=bytes)
    return table.view(np.uint8).reshape(len(table), table.dtype.itemsize)


class RunFormatter:
    """The lines Pyserini's TREC or MS MARCO writer writes for a batch of queries' hits."""

    def __init__(self, docids):
        self.stripped = [d.strip() for d in docids]  # Pyserini's writers strip each docid
        longest = max(map(len, self.stripped), default=0)
        self.table = None
        if 4 * longest * len(docids) <= MAX_TABLE_BYTES and not any("\0" in d for d in self.stripped):
            self.table = _padded(self.stripped)
        self.ranks = _padded([])

    def lines(self, heads, rows, scores, tail, trec, max_hits=None):
        """The run lines of several queries, in order: for query i, ``heads[i]`` + docid [+ rank
        + score] + ``tail`` for each of its hits (``rows[i]``, best first; rows -1 are faiss's
        padding and are skipped; at most ``max_hits``). TREC: ``{qid} Q0 {docid} {rank}
        {score:.6f} {tag}``, MS MARCO: ``{qid}\t{docid}\t{rank}``."""
        rows, scores = np.atleast_2d(rows), np.atleast_2d(scores)
        rank = np.cumsum(rows >= 0, axis=1)
        keep = (rows >= 0) & (rank <= (max_hits or rows.shape[1]))
        query, kept, rank, score_values = np.nonzero(keep)[0], rows[keep], rank[keep], scores[keep]
        n = len(kept)
        score = _score_columns(score_values) if trec else None
        if self.table is None or (trec and score is None):
            return self._python_lines([heads[q] for q in query.tolist()], kept, score_values, rank, tail, trec)
        if len(self.ranks) < rank.max(initial=0):
            self.ranks = _padded([str(r) for r in range(1, max(int(rank.max()), 1000) + 1)])
        blocks = [_padded(heads)[query], self.table[kept], _SPACE if trec else _TAB, self.ranks[rank - 1]]
        blocks += [_SPACE, score, _bytes(f" {tail}\n")] if trec else [_NEWLINE]
        lines = np.concatenate([np.broadcast_to(b, (n, b.shape[-1])) for b in blocks], axis=1)
        return lines[lines != 0].tobytes().decode()

    def _python_lines(self, heads, rows, scores, ranks, tail, trec):
        docids = [self.stripped[r] for r in rows.tolist()]
        if trec:
            return "".join([f"{h}{d} {r} {s:.6f} {tail}\n"
                            for h, d, r, s in zip(heads, docids, ranks.tolist(), scores.tolist())])
        return "".join([f"{h}{d}\t{r}\n" for h, d, r in zip(heads, docids, ranks.tolist())])


def _bytes(text):
    return np.frombuffer(text.encode(), dtype=np.uint8)


def _score_columns(scores):
    """[n, width] uint8: each float32 score as ``%.6f`` text, NUL where it has no character.
    Digits go three at a time through a table: integer division is the slow part."""
    x = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(x).all() or (len(x) and np.abs(x).max() >= _LIMIT):
        return None
    whole, frac = np.divmod(np.rint(np.abs(x) * 1e6).astype(np.int64), 1_000_000)
    groups = max(1, -(-len(str(int(whole.max(initial=0)))) // 3))
    n, width = len(x), 1 + 3 * groups + 1 + 6
    text = np.empty((n, width), dtype=np.uint8)
    for g in range(groups):
        text[:, 1 + 3 * g:4 + 3 * g] = _TRIPLES[(whole // 1000 ** (groups - 1 - g)) % 1000]
    text[:, width - 7] = ord(".")
    text[:, width - 6:width - 3] = _TRIPLES[frac // 1000]
    text[:, width - 3:] = _TRIPLES[frac % 1000]
    digits = 1 + (whole[:, None] >= 10 ** np.arange(1, 3 * groups, dtype=np.int64)).sum(1)  # at least one
    first = 1 + 3 * groups - digits
    text[np.arange(width) < first[:, None]] = 0  # the leading zeros and the sign column go
    negative = np.signbit(x)  # '%.6f' % -0.0 is '-0.000000', as is any tiny negative score
    text[np.flatnonzero(negative), first[negative] - 1] = ord("-")
    return text
