"""The bridge to Pyserini's own commands: topics they can read, their modules run in-process,
and ``--encoder-class jpq`` added to the choices Pyserini hard-codes.

Used by the ``search`` and ``bm25`` verbs (and ``reproduce`` through them).
"""
import argparse
import contextlib
import os
import runpy
import sys
from pathlib import Path

from .errors import UsageError
from .fsutil import atomic_file, cache_dir, read_text


def topics_file(source):
    """A Pyserini-readable topics path for ``source``; None if Pyserini should resolve it itself
    (a TSV file, or a Pyserini topics name). TREC and SMART topic files, BEIR query files,
    ir_datasets ids and collection folders are written to a TSV that Pyserini reads."""
    import ir_datasets
    from .datasets import iter_queries, load_dataset, local_collection, register

    register()
    if Path(source).is_file():
        from .formats import kind
        if kind(source) not in ("trec", "smart", "beir"):
            return None  # TSV, or Pyserini's JSON/XML topic formats: Pyserini reads them itself
    elif source not in ir_datasets.registry and local_collection(source) is None:
        return None
    queries = iter_queries(load_dataset(source, "--topics"), source)
    name = str(Path(source).resolve() if Path(source).exists() else source).strip("/").replace("/", "__")[-120:]
    path = cache_dir("topics") / f"{name}.tsv"
    with atomic_file(path) as tmp:
        # Pyserini's TSV reader splits on tabs and lines: keep each query on one line.
        tmp.write_text("".join(f"{qid}\t{' '.join(text.split())}\n" for qid, text in queries))
    return str(path)


def check_topics(source, topics_format="default"):
    """One clear line for topics Pyserini would fail on later (unknown, empty, empty queries)."""
    from pyserini.query_iterator import TopicsFormat, get_query_iterator

    if Path(source).is_file():  # Anserini's readers fail obscurely on these
        text = read_text(source, "--topics")
        if not text.strip():
            raise UsageError(f"--topics {source}: empty file")
        if source.endswith(".tsv"):
            rows = [line.split("\t", 1) for line in text.splitlines() if line.strip()]
            empty = [r[0] for r in rows if len(r) < 2 or not r[1].strip()]
            if empty:
                raise UsageError(f"--topics {source}: {len(empty)} empty queries (first: {empty[0]})")
    elif os.sep in source or source.endswith((".tsv", ".txt", ".json", ".jsonl", ".gz", ".xml")):
        raise UsageError(f"--topics {source}: no such file")
    try:
        topics = get_query_iterator(source, TopicsFormat(topics_format)).topics
    except Exception as e:  # Pyserini raises bare ValueError/Java exceptions for unknown names
        raise UsageError(f"--topics {source}: unknown topics ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                         f"expected a Pyserini topics name, a .tsv file or an ir_datasets id") from None
    if not topics:
        raise UsageError(f"--topics {source}: no queries")
    empty = [qid for qid, t in topics.items() if not str(t.get("title", t.get("contents", "x")) or "").strip()]
    if empty:
        raise UsageError(f"--topics {source}: {len(empty)} empty queries (first: {empty[0]})")


def readable_topics(source, topics_format="default"):
    """``source`` as Pyserini can read it, checked: an ir_datasets id or folder becomes a TSV file."""
    converted = topics_file(source) or source
    check_topics(converted, topics_format)
    return converted


def check_encoder(encoder, dim, index, meta, encoder_class):
    """One line for an encoder that cannot search this index (dimension, a head applied twice)."""
    from .encoder import model_dim, read_head
    from .indexdir import FOLDED

    hidden = model_dim(encoder)
    if hidden != dim:
        raise UsageError(f"--encoder {encoder}: produces {hidden}-dimensional vectors but the index holds {dim} dimensions")
    has_head = read_head(encoder) is not None
    if encoder_class in (None, "jpq") and has_head and meta.get(FOLDED):
        raise UsageError(f"--index {index}: has the query head folded in (fold-head), and --encoder {encoder} applies "
                         f"it too; search {meta[FOLDED].get('index')} with this encoder instead")


def is_jpq_encoder(encoder):
    """A JPQ encoder dir, or the embedded default: both want ``--encoder-class jpq``."""
    from .encoder import CONFIG_FILE, embedded_model_path

    return (Path(encoder) / CONFIG_FILE).exists() or (embedded_model_path(encoder) is not None)


def run_module(module, argv):
    """Run one of Pyserini's own command modules in this process (the JVM is already set up)."""
    saved = sys.argv
    sys.argv = [module, *argv]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        sys.argv = saved


@contextlib.contextmanager
def jpq_encoder_choice():
    """Let Pyserini's argparse accept ``--encoder-class jpq`` (its choices list is hard-coded),
    and its encoder map find the class; both as they were afterwards."""
    from .query_encoder import registered

    original = argparse._ActionsContainer.add_argument

    def add_argument(self, *names, **kwargs):
        if "--encoder-class" in names and kwargs.get("choices") and "jpq" not in kwargs["choices"]:
            kwargs["choices"] = [*kwargs["choices"], "jpq"]
        return original(self, *names, **kwargs)

    argparse._ActionsContainer.add_argument = add_argument
    try:
        with registered():
            yield
    finally:
        argparse._ActionsContainer.add_argument = original


def drop_flag(argv, flag):
    """argv without ``flag`` and its value (a flag of ours that Pyserini does not know)."""
    out, it = [], iter(argv)
    for a in it:
        if a == flag:
            next(it, None)
        elif not a.startswith(flag + "="):
            out.append(a)
    return out


@contextlib.contextmanager
def ivf_probes(nprobe):
    """Pyserini's FaissSearcher loads the index with ``faiss.read_index`` and has no nprobe
    setting (only HNSW's efSearch): set the inverted-file index's probe count as it loads."""
    import faiss

    if nprobe is None:
        yield
        return
    read = faiss.read_index

    def read_with_probes(*args, **kwargs):
        index = read(*args, **kwargs)
        faiss.extract_index_ivf(index).nprobe = nprobe
        return index

    faiss.read_index = read_with_probes
    try:
        yield
    finally:
        faiss.read_index = read


def replace_flag(argv, flag, value):
    """argv with ``flag``'s value set to ``value`` (added when absent)."""
    out, found, it = [], False, iter(argv)
    for a in it:
        if a == flag or a.startswith(flag + "="):
            if a == flag:
                next(it, None)
            out += [flag, value]
            found = True
        else:
            out.append(a)
    return out if found else out + [flag, value]
