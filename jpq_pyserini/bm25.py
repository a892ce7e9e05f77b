"""``jpq-pyserini bm25``: the sparse baseline through Pyserini's own Lucene indexer and searcher.

Indexes a dataset's documents (title + text, one JsonCollection file) with
``pyserini.index.lucene`` once, cached by corpus, then runs Pyserini's own
``pyserini.search.lucene --bm25`` command (default k1=0.9, b=0.4) on the topics, writing
the same TREC / MS MARCO run formats as ``jpq-pyserini search``.
"""
import hashlib
import json
import sys
from pathlib import Path

from ._bootstrap import require_java
from .datasets import doc_text, load_dataset, reading
from .errors import Parser, UsageError, cli, nonneg_float, positive_int, unit_float
from .fsutil import atomic_dir, atomic_file, cache_dir, check_output_file
from .pyserini_bridge import readable_topics, run_module

K1, B = 0.9, 0.4  # Pyserini's own BM25 defaults; every BM25 here (verb, reproduce, fusion) uses them


def lucene_index(corpus, threads=1):
    """Path of a Lucene index of ``corpus`` (built on first use, then reused from the cache)."""
    require_java()
    key = hashlib.sha1(str(Path(corpus).resolve() if Path(corpus).exists() else corpus).encode()).hexdigest()[:12]
    path = cache_dir("lucene") / f"{str(corpus).strip('/').replace('/', '__')[-60:]}-{key}"
    if (path / "index").is_dir():
        return path / "index"
    dataset = load_dataset(corpus, "--corpus")
    if not dataset.has_docs():
        raise UsageError(f"--corpus {corpus}: the dataset has no documents")
    with atomic_dir(path, overwrite=True, flag="lucene cache") as tmp:
        (tmp / "docs").mkdir()
        with open(tmp / "docs" / "docs.jsonl", "w") as f, reading(corpus, "--corpus"):
            for doc in dataset.docs_iter():
                f.write(json.dumps({"id": doc.doc_id, "contents": doc_text(doc)}) + "\n")
        run_module("pyserini.index.lucene", [
            "--collection", "JsonCollection", "--input", str(tmp / "docs"), "--index", str(tmp / "index"),
            "--generator", "DefaultLuceneDocumentGenerator", "--threads", str(threads),
            "--storePositions", "--storeDocvectors", "--storeRaw"])
        if not (tmp / "index").is_dir():
            raise UsageError(f"--corpus {corpus}: Pyserini's Lucene indexer wrote no index")
    return path / "index"


def run_bm25(corpus, topics, output, output_format="trec", hits=1000, k1=K1, b=B, threads=1, batch_size=64):
    check_output_file(output)
    require_java()
    converted = readable_topics(topics)
    index = lucene_index(corpus, threads)
    with atomic_file(output) as tmp:
        run_module("pyserini.search.lucene", [
            "--index", str(index), "--topics", converted, "--output", str(tmp), "--output-format", output_format,
            "--bm25", "--k1", str(k1), "--b", str(b), "--hits", str(hits),
            "--threads", str(threads), "--batch-size", str(batch_size)])
    return output


@cli("jpq-pyserini bm25")
def main(argv=None):
    p = Parser(prog="jpq-pyserini bm25", description=__doc__.splitlines()[0])
    p.add_argument("--corpus", required=True, help="dataset whose documents are indexed")
    p.add_argument("--topics", required=True, help="ir_datasets id, local collection, Pyserini topics name or .tsv")
    p.add_argument("--output", required=True)
    p.add_argument("--output-format", choices=["trec", "msmarco"], default="trec")
    p.add_argument("--hits", type=positive_int, default=1000)
    p.add_argument("--k1", type=nonneg_float, default=K1)
    p.add_argument("--b", type=unit_float, default=B)
    p.add_argument("--threads", type=positive_int, default=1)
    p.add_argument("--batch-size", type=positive_int, default=64)
    args = p.parse_args(argv)
    run_bm25(args.corpus, args.topics, args.output, args.output_format, args.hits, args.k1, args.b,
             args.threads, args.batch_size)
    print(f"BM25 (k1={args.k1}, b={args.b}) run written to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
