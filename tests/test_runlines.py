"""The array-built run lines equal Pyserini's writers' f-strings, byte for byte, on the scores
and docids that make formatting hard."""
import numpy as np
import pytest

from jpq_pyserini import runlines
from jpq_pyserini.runlines import RunFormatter

DOCIDS = [f" doc{i}\t" if i % 7 == 0 else f"d{i}é" for i in range(5000)]


def pyserini_lines(head, rows, scores, tail, trec):
    # pyserini.output_writer.TrecWriter / MsMarcoWriter, one hit at a time
    if trec:
        return "".join(f"{head}{DOCIDS[r].strip()} {i} {s:.6f} {tail}\n"
                       for i, (r, s) in enumerate(zip(rows.tolist(), scores.tolist()), 1))
    return "".join(f"{head}{DOCIDS[r].strip()}\t{i}\n" for i, r in enumerate(rows.tolist(), 1))


def hard_scores(rng, kind, n):
    return np.asarray({
        "normal": lambda: rng.standard_normal(n),
        "large": lambda: rng.standard_normal(n) * 10.0 ** rng.integers(0, 14),
        "ties": lambda: rng.integers(-2000, 2000, n) / 2.0 ** rng.integers(1, 12, n),  # exact halves of 1e-6
        "tiny": lambda: rng.standard_normal(n) * 1e-7,  # includes -0.000000
        "edges": lambda: rng.choice([0.0, -0.0, 9.999999e11, -9.9999e11, 1e12, -5e12, 0.5, 1.0000005, 2 ** -7,
                                     999.9999995, 99999.5, np.nan, np.inf, -np.inf], n),
    }[kind](), dtype=np.float32)


@pytest.mark.parametrize("kind", ["normal", "large", "ties", "tiny", "edges"])
def test_lines_equal_pyserini_writers(kind):
    rng = np.random.default_rng(["normal", "large", "ties", "tiny", "edges"].index(kind))
    formatter = RunFormatter(DOCIDS)
    for n in [0, 1, 7, 999, 1000, 1001]:
        rows, scores = rng.integers(0, len(DOCIDS), n), hard_scores(rng, kind, n)
        for trec, head in ((True, "q1 Q0 "), (False, "q1\t")):
            assert formatter.lines([head], rows, scores, "Faiss", trec) == pyserini_lines(head, rows, scores, "Faiss", trec)


def test_docid_tables_too_large_for_memory_take_pythons_path(monkeypatch):
    monkeypatch.setattr(runlines, "MAX_TABLE_BYTES", 10)
    formatter = RunFormatter(DOCIDS)
    rows, scores = np.arange(50), np.linspace(-1, 1, 50, dtype=np.float32)
    assert formatter.table is None
    assert formatter.lines(["q Q0 "], rows, scores, "t", True) == pyserini_lines("q Q0 ", rows, scores, "t", True)


def test_a_batch_with_padding_and_a_hit_limit_is_each_querys_lines_in_turn():
    """faiss pads short result lists with row -1 (IVF); ranks count the kept hits only."""
    rng = np.random.default_rng(7)
    rows = rng.integers(0, len(DOCIDS), (5, 40))
    rows[1, 30:] = -1
    rows[3, [2, 5, 39]] = -1
    scores = np.sort(rng.standard_normal((5, 40)).astype(np.float32), axis=1)[:, ::-1]
    heads = [f"q{i} Q0 " for i in range(5)]
    formatter = RunFormatter(DOCIDS)
    for max_hits in (None, 10, 35):
        expected = "".join(pyserini_lines(h, r[r >= 0][:max_hits], s[r >= 0][:max_hits], "tag", True)
                           for h, r, s in zip(heads, rows, scores))
        assert formatter.lines(heads, rows, scores, "tag", True, max_hits) == expected
