"""``jpq-pyserini package``: a trained model as a prebuilt index, the way Pyserini ships its own.

    jpq-pyserini package TRAIN_OUT --name beir-v1.0.0-scifact.minilm.jpq48 --output DIR \\
        [--topics jpq-pyserini/scifact/test]

writes ``DIR/NAME.tar.gz`` (the index dir with the query encoder in ``encoder/``) and
``DIR/NAME.json``, an entry in Pyserini's prebuilt-index layout (description, filename,
urls, md5, size, documents) plus the scores it reproduces: the dev score training selected
on, and, with ``--topics``, each metric searched through Pyserini's FaissSearcher and
scored by ranx. It registers the entry, so that ``search --index NAME`` finds it;
``jpq-pyserini indexes`` lists what is registered.
"""
import json
import sys
from pathlib import Path

from . import prebuilt
from .errors import Parser, UsageError, cli
from .fsutil import atomic_file, check_output_file, read_json
from .indexdir import check_index_dir, read_meta

METRICS = ("ndcg@10", "recall@100")


def _parts(train_out):
    from .encoder import CONFIG_FILE

    train_out = Path(train_out)
    index, encoder = train_out / "index", train_out / "encoder"
    if not (train_out.is_dir() and index.is_dir() and (encoder / CONFIG_FILE).is_file()):
        raise UsageError(f"TRAIN_OUT {train_out}: expected a training output dir (index/ and encoder/ with "
                         f"{CONFIG_FILE}, as jpq-pyserini train writes)")
    check_index_dir(index, "TRAIN_OUT")
    return index, encoder


def measured(index, encoder, topics, metrics=METRICS):
    """{topics: {metric: score}}: the topics searched through Pyserini's FaissSearcher."""
    from pyserini.search.faiss import FaissSearcher
    from ranx import Qrels, Run, evaluate
    from .datasets import iter_queries, load_dataset, load_qrels
    from .query_encoder import JpqQueryEncoder

    dataset = load_dataset(topics, "--topics")
    qrels = Qrels(load_qrels(dataset, topics, "--topics"))
    queries = iter_queries(dataset, topics)
    searcher = FaissSearcher(str(index), JpqQueryEncoder(str(encoder)))
    hits = searcher.batch_search([t for _, t in queries], [q for q, _ in queries], k=100, threads=1)
    run = Run({q: {h.docid: float(h.score) for h in hs} for q, hs in hits.items()})
    scores = evaluate(qrels, run, list(metrics), make_comparable=True)
    return {topics: {m: round(float(scores[m]), 4) for m in metrics}}


def package(train_out, name, output, description=None, topics=None):
    prebuilt.check_name(name)
    index, encoder = _parts(train_out)
    output = Path(output)
    tarball, entry_file = output / f"{name}.tar.gz", output / f"{name}.json"
    for path in (tarball, entry_file):
        check_output_file(path)
    meta = read_meta(index, "TRAIN_OUT")
    summary, config = Path(train_out) / "train_summary.json", Path(train_out) / "train_config.json"
    dev = read_json(config, "TRAIN_OUT").get("dev") if config.exists() else None
    scores = {}
    if summary.exists():
        best = read_json(summary, "TRAIN_OUT").get("best", {})
        if "dev_ndcg@10" in best:
            scores[f"{dev or 'dev'} (selection split)"] = {"ndcg@10": best["dev_ndcg@10"]}
    if topics:
        scores.update(measured(index, encoder, topics))
    description = description or (
        f"JPQ index ({meta.get('kind', 'pq').upper()} M={meta.get('pq_m')}, {meta.get('pq_nbits')} bits, "
        f"{meta.get('bytes_per_doc'):g} bytes per document) of {meta.get('corpus', 'a corpus')}, documents encoded by "
        f"{meta.get('doc_encoder', meta.get('encoder'))}, with its JPQ-trained query encoder")
    output.mkdir(parents=True, exist_ok=True)
    prebuilt.write_tarball(tarball, name, index, encoder)
    entry = prebuilt.entry(name, tarball, meta, description, scores)
    with atomic_file(entry_file) as tmp:
        tmp.write_text(json.dumps(entry, indent=2) + "\n")
    prebuilt.register(entry)
    return tarball, entry_file, entry[name]


@cli("jpq-pyserini package")
def main(argv=None):
    p = Parser(prog="jpq-pyserini package", description=__doc__.splitlines()[0])
    p.add_argument("train_out", metavar="TRAIN_OUT", help="a training output dir (jpq-pyserini train --output)")
    p.add_argument("--name", required=True, help="the package's name, e.g. beir-v1.0.0-scifact.minilm.jpq48")
    p.add_argument("--output", required=True, help="dir for NAME.tar.gz and NAME.json")
    p.add_argument("--description", help="the entry's description (default: built from the index's meta.json)")
    p.add_argument("--topics", help="topics with qrels to search and score into the entry (ir_datasets id or folder)")
    args = p.parse_args(argv)
    tarball, entry_file, entry = package(args.train_out, args.name, args.output, args.description, args.topics)
    print(f"{tarball} (md5 {entry['md5']}, {entry['size compressed (bytes)']:,} bytes, {entry['documents']:,} "
          f"documents)\n{entry_file}\nregistered: jpq-pyserini search --index {args.name} --topics ...", file=sys.stderr)


if __name__ == "__main__":
    main()
