"""``jpq-pyserini search``: Pyserini's own ``pyserini.search.faiss`` command, plugin registered.

Every flag of Pyserini's command works unchanged, because this runs Pyserini's module
itself. Around it we add what Pyserini lacks:
  * ``--encoder-class jpq`` (added to Pyserini's hard-coded choices), picked automatically
    for a JPQ encoder dir and for the embedded default encoder;
  * ``--topics`` also takes an ir_datasets id or a local collection (written to a TSV that
    Pyserini reads);
  * checks that fail with one line before Pyserini starts (index dir, docid count, encoder
    dimension, unknown topics, empty queries), and a run file that appears only complete.
"""
import argparse
import contextlib
import os
import runpy
import sys
from pathlib import Path

from ._bootstrap import require_java
from .errors import UsageError, cli
from .fsutil import atomic_file, cache_dir
from .indexdir import index_dim


def topics_file(spec):
    """A Pyserini-readable topics path for ``spec`` and its {qid: text}; None if Pyserini should resolve it."""
    import ir_datasets
    from .datasets import iter_queries, load_dataset, local_collection, register

    register()
    if Path(spec).is_file():
        return None
    if spec not in ir_datasets.registry and local_collection(spec) is None:
        return None
    queries = iter_queries(load_dataset(spec), spec)
    name = spec.strip("/").replace("/", "__")
    path = cache_dir("topics") / f"{name}.tsv"
    with atomic_file(path) as tmp:
        # Pyserini's TSV reader splits on tabs and lines: keep each query on one line.
        tmp.write_text("".join(f"{qid}\t{' '.join(text.split())}\n" for qid, text in queries))
    return str(path)


def _check_topics(spec, topics_format):
    from pyserini.query_iterator import TopicsFormat, get_query_iterator

    if spec.endswith(".tsv") and Path(spec).is_file():  # Anserini's reader fails obscurely on these
        rows = [line.rstrip("\n").split("\t", 1) for line in open(spec) if line.strip()]
        empty = [r[0] for r in rows if len(r) < 2 or not r[1].strip()]
        if empty:
            raise UsageError(f"--topics {spec}: {len(empty)} empty queries (first: {empty[0]})")
    try:
        topics = get_query_iterator(spec, TopicsFormat(topics_format)).topics
    except Exception as e:  # Pyserini raises bare ValueError/Java exceptions for unknown names
        raise UsageError(f"--topics {spec}: unknown topics ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                         f"expected a Pyserini topics name, a .tsv file or an ir_datasets id") from None
    if not topics:
        raise UsageError(f"--topics {spec}: no queries")
    empty = [qid for qid, t in topics.items() if not str(t.get("title", t.get("contents", "x")) or "").strip()]
    if empty:
        raise UsageError(f"--topics {spec}: {len(empty)} empty queries (first: {empty[0]})")


def _jpq_encoder_wanted(encoder):
    from .encoder import CONFIG_FILE, _embedded

    return (Path(encoder) / CONFIG_FILE).exists() or (_embedded(encoder) is not None)


def _check_encoder_dim(encoder, dim):
    from transformers import AutoConfig
    from .encoder import resolve_model

    hidden = AutoConfig.from_pretrained(resolve_model(encoder)).hidden_size
    if hidden != dim:
        raise UsageError(f"--encoder {encoder}: produces {hidden}-dimensional vectors but the index holds {dim} dimensions")


def run_module(module, argv):
    """Run one of Pyserini's own command modules in this process (the JVM is already set up)."""
    saved = sys.argv
    sys.argv = [module, *argv]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        sys.argv = saved


@contextlib.contextmanager
def _with_jpq_choice():
    """Let Pyserini's argparse accept ``--encoder-class jpq``; its choices list is hard-coded."""
    original = argparse._ActionsContainer.add_argument

    def add_argument(self, *names, **kwargs):
        if "--encoder-class" in names and kwargs.get("choices") and "jpq" not in kwargs["choices"]:
            kwargs["choices"] = [*kwargs["choices"], "jpq"]
        return original(self, *names, **kwargs)

    argparse._ActionsContainer.add_argument = add_argument
    try:
        yield
    finally:
        argparse._ActionsContainer.add_argument = original


def _ours():
    p = argparse.ArgumentParser(add_help=False)
    for flag in ("--index", "--encoder", "--encoder-class", "--topics", "--output", "--encoded-queries"):
        p.add_argument(flag)
    p.add_argument("--topics-format", default="default")
    return p


def _replace(argv, flag, value):
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


def run_pyserini_search(argv):
    require_java()
    known, _ = _ours().parse_known_args(argv)
    if any(a in ("-h", "--help") for a in argv):
        known = None
    elif not (known.index and known.topics and known.output):
        raise UsageError("--index, --topics and --output are required")
    if known is not None:
        index_path = Path(known.index)
        if index_path.exists() or os.sep in known.index:
            dim = index_dim(index_path)
            if known.encoder:
                _check_encoder_dim(known.encoder, dim)
        if known.encoder and not known.encoder_class and _jpq_encoder_wanted(known.encoder):
            argv = [*argv, "--encoder-class", "jpq"]
        converted = topics_file(known.topics)
        if converted:
            argv = _replace(argv, "--topics", converted)

    from . import query_encoder  # noqa: F401  registers "jpq" in Pyserini's encoder map

    if known is not None:
        _check_topics(converted or known.topics, known.topics_format)
    output = Path(known.output) if known else None
    with contextlib.ExitStack() as stack:
        if output is not None:
            tmp = stack.enter_context(atomic_file(output))
            argv = _replace(argv, "--output", str(tmp))
        stack.enter_context(_with_jpq_choice())
        run_module("pyserini.search.faiss", argv)
    return output


@cli("jpq-pyserini search")
def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    output = run_pyserini_search(list(argv))
    if output is not None:
        print(f"run written to {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
