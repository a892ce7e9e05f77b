"""``jpq-pyserini VERB ...``: the console script; each verb is also ``python -m jpq_pyserini.VERB`` (hyphens as underscores)."""
import importlib
import importlib.util
import sys

VERBS = {
    "datasets": "list the collections taken by id; datasets add ID PATH serves an official one offline from a checked local copy",
    "encode": "encode a corpus into a flat index dir (mirrors pyserini.encode)",
    "merge": "merge flat shards or PQ dirs of one model (mirrors pyserini.index.merge_faiss_indexes)",
    "index": "build a PQ/OPQ index dir from a flat one, or quantize with a trained model (mirrors pyserini.index.faiss)",
    "train": "JPQ joint training of the query encoder and PQ centroids",
    "fold-head": "copy a trained index with its query head folded in, for stock Pyserini",
    "export-onnx": "export a query encoder to ONNX Runtime (float or int8) for fast CPU search",
    "encode-queries": "pre-encode topics for search --encoded-queries (mirrors pyserini.encode.query)",
    "search": "Pyserini's pyserini.search.faiss with the JPQ encoder registered",
    "bm25": "BM25 baseline through Pyserini's Lucene",
    "hybrid": "Pyserini's pyserini.search.hybrid (dense + BM25 fusion) with the JPQ encoder registered",
    "validate": "check TREC / MS MARCO run files",
    "eval": "ranx evaluation with significance tests",
    "reproduce": "run a reproduction spec end to end",
    "submit": "package dev/eval runs for the MS MARCO leaderboard",
    "package": "a trained model as a prebuilt-index tarball with a Pyserini-style entry (md5, size, documents)",
    "indexes": "list (or add) the registered prebuilt JPQ indexes that search --index NAME resolves",
}


def _module(verb):
    return f"jpq_pyserini.{verb.replace('-', '_')}"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    available = {v: h for v, h in VERBS.items() if importlib.util.find_spec(_module(v))}
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in available:
        print("usage: jpq-pyserini VERB [flags]   (or python -m jpq_pyserini.VERB)\n\nverbs:", file=sys.stderr)
        for verb, help_ in available.items():
            print(f"  {verb:<15} {help_}", file=sys.stderr)
        sys.exit(0 if argv and argv[0] in ("-h", "--help") else 2)
    sys.argv = [f"jpq-pyserini {argv[0]}", *argv[1:]]
    return importlib.import_module(_module(argv[0])).main(argv[1:])


if __name__ == "__main__":
    main()
