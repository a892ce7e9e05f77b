"""``jpq-pyserini hybrid``: Pyserini's own ``pyserini.search.hybrid`` command, JPQ encoder registered.

Dense + BM25 fusion with Pyserini's flags and sub-commands, unchanged:

  jpq-pyserini hybrid dense --index JPQ_INDEX --encoder ENCODER_DIR \\
                      sparse --index LUCENE_INDEX \\
                      fusion --alpha 0.3 --normalization \\
                      run --topics TOPICS --output RUN

What it adds, as ``search`` does: ``--encoder-class jpq`` for a JPQ encoder dir or the
embedded default; ``run --topics`` also takes an ir_datasets id or a local collection;
``dense --index`` also names a registered package (``package``), whose bundled encoder
serves when ``--encoder`` is not given; ``sparse --index`` also takes a dataset, whose
Lucene index the ``bm25`` verb builds (and caches); one-line errors before Pyserini starts;
a run file that appears only complete; Pyserini's ``--normalization`` without its division by
zero when one side returns a single score (``fusion.py``).
``reproduce`` chooses ``--alpha`` (with ``--normalization``) on the dev split (``fusion.py``).
"""
import contextlib
import sys
from pathlib import Path

from . import prebuilt
from ._bootstrap import require_java
from .errors import Parser, UsageError, cli
from .fsutil import atomic_file, check_output_file
from .fusion import guarded
from .indexdir import index_dim, read_meta
from .pyserini_bridge import (check_encoder, is_jpq_encoder, jpq_encoder_choice, readable_topics, replace_flag,
                              run_module)

SECTIONS = ("dense", "sparse", "fusion", "run")


def split_sections(argv):
    """{section: its argv} as Pyserini's own parser splits them (by the sub-command words)."""
    parts, current = {}, None
    for a in argv:
        if a in SECTIONS:
            current = a
            parts[current] = []
        elif current is None:
            raise UsageError(f"unexpected '{a}' before a sub-command; expected {' '.join(SECTIONS)} sections")
        else:
            parts[current].append(a)
    return parts


def _flags(section, argv, *names):
    p = Parser(prog=f"jpq-pyserini hybrid {section}", add_help=False)
    for name in names:
        p.add_argument(name)
    return p.parse_known_args(argv)[0]


def _sparse_index(value):
    """A Lucene index path as Pyserini takes it, or a dataset whose documents the bm25 verb indexes."""
    from .datasets import local_collection
    import ir_datasets

    if Path(value, "segments").exists() or any(Path(value).glob("segments_*")):
        return value
    try:
        collection = local_collection(value)
    except UsageError:
        raise UsageError(f"sparse --index {value}: neither a Lucene index (no segments file) nor a collection "
                         f"(BEIR or TSV folder)") from None
    if collection is not None or value in ir_datasets.registry:
        from .bm25 import lucene_index
        return str(lucene_index(value))
    return value  # a Pyserini prebuilt index name: Pyserini resolves it


def prepare(argv):
    """Pyserini's argv with our additions resolved, checked; (argv, output path)."""
    from .datasets import register

    register()
    parts = split_sections(argv)
    missing = [s for s in ("dense", "sparse", "run") if s not in parts]
    if missing:
        raise UsageError(f"missing sub-command{'s' * (len(missing) > 1)}: {', '.join(missing)} "
                         f"(usage: hybrid dense --index ... sparse --index ... [fusion ...] run --topics ... --output ...)")
    dense = _flags("dense", parts["dense"], "--index", "--encoder", "--encoder-class")
    run = _flags("run", parts["run"], "--topics", "--output", "--topics-format")
    sparse = _flags("sparse", parts["sparse"], "--index")
    for section, ns, flag in (("dense", dense, "index"), ("sparse", sparse, "index"), ("run", run, "topics"),
                              ("run", run, "output")):
        if not getattr(ns, flag):
            raise UsageError(f"{section} --{flag} is required")
    check_output_file(run.output)
    parts["dense"], dense.index, dense.encoder = prebuilt.in_argv(parts["dense"], dense.index, dense.encoder,
                                                                  flag="dense --index")
    index = Path(dense.index)
    if index.exists():
        dim = index_dim(index)
        if dense.encoder:
            check_encoder(dense.encoder, dim, index, read_meta(index), dense.encoder_class)
    if dense.encoder and not dense.encoder_class and is_jpq_encoder(dense.encoder):
        parts["dense"] += ["--encoder-class", "jpq"]
    parts["sparse"] = replace_flag(parts["sparse"], "--index", _sparse_index(sparse.index))
    parts["run"] = replace_flag(parts["run"], "--topics", readable_topics(run.topics, run.topics_format or "default"))
    return [a for s in SECTIONS if s in parts for a in (s, *parts[s])], Path(run.output)


def run_hybrid(argv):
    require_java()
    if any(a in ("-h", "--help") for a in argv):
        with jpq_encoder_choice():
            run_module("pyserini.search.hybrid", argv)
        return None
    argv, output = prepare(argv)
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_file(output))
        run_section = argv.index("run")
        argv = argv[:run_section] + ["run", *replace_flag(argv[run_section + 1:], "--output", str(tmp))]
        stack.enter_context(jpq_encoder_choice())
        stack.enter_context(guarded())
        run_module("pyserini.search.hybrid", argv)
    return output


@cli("jpq-pyserini hybrid")
def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    output = run_hybrid(list(argv))
    if output is not None:
        print(f"run written to {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
