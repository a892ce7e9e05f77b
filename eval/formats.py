"""One collection written out in every format the tools read, and the runs it gives in each.

    python eval/formats.py [--source jpq-pyserini/scifact] [--index JPQ_TRAIN_OUT] [--out DIR]

Writes the source's documents, its train and test queries and qrels as a folder per format
(BEIR, TREC SGML + TREC topics + TREC qrels, SMART + 3-column qrels, Pyserini JsonCollection
+ TREC topics, MS MARCO TSV), then, per format, through the verbs as a user runs them:
BM25 (``bm25 --corpus FOLDER --topics FOLDER/test``) and JPQ (``encode`` the folder's
documents, ``index --codebook`` with a trained JPQ index, ``search``). Every format's run must
be byte-identical to the BEIR folder's; the table goes to ``eval/results/formats.md``.
"""
import argparse
import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORMATS = ("beir", "trec", "smart", "jsoncollection", "msmarco")


def _one_line(text):
    return " ".join(text.split())


def write(fmt, folder, docs, queries, qrels):
    """``docs`` [(id, title, text)], ``queries`` {split: [(id, text)]}, ``qrels`` {split: [(qid, docid, grade)]}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "beir":
        with open(folder / "corpus.jsonl", "w") as f:
            f.writelines(json.dumps({"_id": d, "title": t, "text": x}) + "\n" for d, t, x in docs)
        with open(folder / "queries.jsonl", "w") as f:
            f.writelines(json.dumps({"_id": q, "text": t}) + "\n" for split in queries for q, t in queries[split])
        (folder / "qrels").mkdir(exist_ok=True)
        for split, rows in qrels.items():
            (folder / "qrels" / f"{split}.tsv").write_text(
                "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{g}\n" for q, d, g in rows))
        return
    text = {d: f"{t} {x}".strip() if t else x for d, t, x in docs}
    if fmt == "trec":
        with gzip.open(folder / "docs.trec.gz", "wt") as f:  # TREC collections ship gzipped
            f.writelines(f"<DOC>\n<DOCNO>{d}</DOCNO>\n<TEXT>\n{_one_line(text[d])}\n</TEXT>\n</DOC>\n"
                         for d, _, _ in docs)
    elif fmt == "smart":
        with open(folder / "docs.all", "w") as f:
            f.writelines(f".I {d}\n.T\n{_one_line(t)}\n.A\n\n.B\n\n.W\n{_one_line(x)}\n" for d, t, x in docs)
    elif fmt == "jsoncollection":
        (folder / "docs").mkdir(exist_ok=True)
        with open(folder / "docs" / "docs.jsonl", "w") as f:
            f.writelines(json.dumps({"id": d, "contents": text[d]}) + "\n" for d, _, _ in docs)
    elif fmt == "msmarco":
        with open(folder / "collection.tsv", "w") as f:
            f.writelines(f"{d}\t{_one_line(text[d])}\n" for d, _, _ in docs)
    for split, rows in queries.items():
        if fmt in ("trec", "jsoncollection"):
            (folder / f"topics.{split}.txt").write_text("".join(
                f"<top>\n<num> Number: {q}\n<title> {_one_line(t)}\n</top>\n\n" for q, t in rows))
        elif fmt == "smart":
            (folder / f"queries.{split}.qry").write_text("".join(f".I {q}\n.W\n{_one_line(t)}\n" for q, t in rows))
        else:
            (folder / f"queries.{split}.tsv").write_text("".join(f"{q}\t{_one_line(t)}\n" for q, t in rows))
    for split, rows in qrels.items():
        name, line = {"smart": (f"qrels.{split}.rel", "{q} {d} {g}\n"),
                      "msmarco": (f"qrels.{split}.tsv", "{q}\t0\t{d}\t{g}\n")}.get(
            fmt, (f"qrels.{split}.txt", "{q} 0 {d} {g}\n"))
        (folder / name).write_text("".join(line.format(q=q, d=d, g=g) for q, d, g in rows))


def read_source(source, splits=("train", "test")):
    from jpq_pyserini import load_dataset

    docs = [(d.doc_id, d.title, d.text) for d in load_dataset(source).docs_iter()]
    queries, qrels = {}, {}
    for split in splits:
        ds = load_dataset(f"{source}/{split}")
        queries[split] = [(q.query_id, q.text) for q in ds.queries_iter()]
        qrels[split] = [(r.query_id, r.doc_id, r.relevance) for r in ds.qrels_iter()]
    return docs, queries, qrels


def _cli(*args):
    proc = subprocess.run([sys.executable, "-m", "jpq_pyserini.cli", *map(str, args)], capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{' '.join(map(str, args))} failed:\n{proc.stderr[-2000:]}")


def sha1(path):
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()[:12]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", default="jpq-pyserini/scifact")
    p.add_argument("--index", help="a JPQ training output (encoder/, index/) whose codebook quantizes each format's corpus")
    p.add_argument("--out", default="runs/formats")
    args = p.parse_args()
    out = Path(args.out)
    docs, queries, qrels = read_source(args.source)
    rows = []
    for fmt in FORMATS:
        folder = out / fmt
        if not folder.exists():
            write(fmt, folder, docs, queries, qrels)
        runs = out / "runs" / fmt
        runs.mkdir(parents=True, exist_ok=True)
        _cli("bm25", "--corpus", folder, "--topics", f"{folder}/test", "--output", runs / "bm25.trec")
        row = {"format": fmt, "bm25": sha1(runs / "bm25.trec")}
        if args.index:
            flat, jpq = out / "flat" / fmt, out / "jpq" / fmt
            if not (flat / "index").exists():
                _cli("encode", "--corpus", folder, "--output", flat)
            if not (jpq / "index").exists():
                _cli("index", "--input", flat, "--output", jpq, "--codebook", Path(args.index) / "index")
            _cli("search", "--index", jpq, "--encoder", Path(args.index) / "encoder", "--topics", f"{folder}/test",
                 "--output", runs / "jpq.trec", "--batch-size", 64)
            row["jpq"] = sha1(runs / "jpq.trec")
        rows.append(row)
        print(row, file=sys.stderr)
    base = rows[0]
    lines = ["| format | files | BM25 run sha1 | JPQ run sha1 | identical to BEIR |", "|---|---|---|---|---|"]
    for r in rows:
        files = ", ".join(sorted(f.name for f in (out / r["format"]).iterdir()))
        same = all(r.get(k) == base.get(k) for k in ("bm25", "jpq"))
        lines.append(f"| {r['format']} | {files} | {r['bm25']} | {r.get('jpq', '–')} | {'yes' if same else 'NO'} |")
    table = "\n".join(lines)
    print(table)
    result = ROOT / "eval" / "results" / "formats.md"
    result.write_text(f"# One collection in every format\n\n`python eval/formats.py --source {args.source}"
                      f"{' --index JPQ48_TRAIN_OUT' if args.index else ''}`: the same documents, queries and qrels "
                      f"written in each format, searched through the verbs (test split).\n\n{table}\n")
    if any("NO" in line for line in lines[2:]):
        sys.exit(1)


if __name__ == "__main__":
    main()
