"""``jpq-pyserini search``: Pyserini's own ``pyserini.search.faiss`` command, plugin registered.

Every flag of Pyserini's command works unchanged, because this runs Pyserini's module
itself. Around it we add what Pyserini lacks:
  * ``--encoder-class jpq`` (added to Pyserini's hard-coded choices), picked automatically
    for a JPQ encoder dir and for the embedded default encoder;
  * ``--topics`` also takes an ir_datasets id or a local collection (written to a TSV that
    Pyserini reads);
  * a result path that keeps hits as arrays and writes runs in bulk (``fast_results.py``),
    byte-identical to Pyserini's writer;
  * ``--nprobe N`` for an inverted-file index (``index --ivf``): lists searched per query
    (default: the count recorded in the index);
  * ``--encoder`` also takes an ONNX encoder dir (``export-onnx``), run on ONNX Runtime, and
    ``--encoded-queries`` a dir from ``encode-queries``;
  * ``--index NAME`` also names a package registered by ``package`` (md5 checked, unpacked
    into the cache once), whose bundled query encoder serves when ``--encoder`` is not given;
  * checks that fail with one line before Pyserini starts (index dir, docid count, encoder
    or encoded-queries dimension, unknown topics, empty queries), and a run file that
    appears only complete.
"""
import contextlib
import os
import sys
from pathlib import Path

from . import prebuilt
from ._bootstrap import require_java
from .errors import Parser, UsageError, cli, positive_int
from .fast_results import fast_results
from .fsutil import atomic_file, check_output_file
from .indexdir import FOLDED, faiss_reason, index_dim, read_meta
from .pyserini_bridge import (check_encoder, check_topics, drop_flag, is_jpq_encoder, ivf_probes, jpq_encoder_choice,
                              replace_flag, run_module, topics_file)


def _check_prf(depth, index, meta):
    """Pyserini's dense PRF reconstructs its feedback documents through faiss."""
    if meta.get(FOLDED):
        raise UsageError(f"--prf-depth {depth}: --index {index} has a query head folded in (fold-head), which faiss "
                         f"cannot invert for PRF; search the index it came from")
    if meta.get("ivf") and meta.get("fast_scan"):
        raise UsageError(f"--prf-depth {depth}: --index {index} is an IVF fast-scan index, from which faiss cannot "
                         f"reconstruct documents for PRF; use an exhaustive or 8-bit IVF index")


def _ours():
    """The flags we check before Pyserini starts; Pyserini parses all of them again."""
    p = Parser(prog="jpq-pyserini search", add_help=False)
    for flag in ("--index", "--encoder", "--encoder-class", "--topics", "--output", "--encoded-queries"):
        p.add_argument(flag)
    for flag in ("--hits", "--binary-hits", "--max-passage-hits", "--batch-size", "--threads", "--nprobe"):
        p.add_argument(flag, type=positive_int)  # Pyserini fails on 0 or less with a bare assertion
    p.add_argument("--prf-depth", type=int, default=0)
    p.add_argument("--topics-format", default="default")
    return p


def _check_nprobe(index, nprobe):
    lists = read_meta(index).get("ivf")
    if not lists:
        raise UsageError(f"--nprobe {nprobe}: --index {index} is not an inverted-file index (build one with index --ivf)")
    if nprobe > lists:
        raise UsageError(f"--nprobe {nprobe}: larger than the {lists} lists of --index {index}")


def run_pyserini_search(argv):
    require_java()
    known, _ = _ours().parse_known_args(argv)
    if any(a in ("-h", "--help") for a in argv):
        known = None
    elif not (known.index and known.topics and known.output):
        raise UsageError("--index, --topics and --output are required")
    if known is not None:
        check_output_file(known.output)
        argv, known.index, known.encoder = prebuilt.in_argv(argv, known.index, known.encoder,
                                                            bool(known.encoded_queries))
        index_path, dim = Path(known.index), None
        if index_path.exists() or os.sep in known.index:
            dim, meta = index_dim(index_path), read_meta(index_path)
            if known.prf_depth > 0:
                _check_prf(known.prf_depth, index_path, meta)
            if known.encoder:
                check_encoder(known.encoder, dim, index_path, meta, known.encoder_class)
        if known.nprobe is not None:
            _check_nprobe(index_path, known.nprobe)
            argv = drop_flag(argv, "--nprobe")
        if known.encoder and not known.encoder_class and is_jpq_encoder(known.encoder):
            argv = [*argv, "--encoder-class", "jpq"]
        converted = topics_file(known.topics)
        if converted:
            argv = replace_flag(argv, "--topics", converted)
        check_topics(converted or known.topics, known.topics_format)
        if known.encoded_queries and Path(known.encoded_queries).exists() and dim is not None:
            from .encoded_queries import check_encoded_queries
            check_encoded_queries(known.encoded_queries, dim, converted or known.topics,
                                  known.topics_format, shown=known.topics)
    output = Path(known.output) if known else None
    with contextlib.ExitStack() as stack:
        if output is not None:
            tmp = stack.enter_context(atomic_file(output))
            argv = replace_flag(argv, "--output", str(tmp))
        stack.enter_context(jpq_encoder_choice())
        stack.enter_context(ivf_probes(known.nprobe if known else None))
        if os.environ.get("JPQ_PYSERINI_FAST_RESULTS", "1") != "0":  # 0: Pyserini's own result path, to compare
            stack.enter_context(fast_results())
        try:
            run_module("pyserini.search.faiss", argv)
        except RuntimeError as e:  # faiss's reader, inside Pyserini's FaissSearcher
            if known is None or "faiss" not in str(e).lower():
                raise
            raise UsageError(f"--index {known.index}/index: not a readable faiss index ({faiss_reason(e)})") from None
    return output


@cli("jpq-pyserini search")
def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    output = run_pyserini_search(list(argv))
    if output is not None:
        print(f"run written to {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
