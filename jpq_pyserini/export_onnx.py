"""``jpq-pyserini export-onnx``: a query encoder dir for ONNX Runtime, for fast CPU search.

    jpq-pyserini export-onnx --encoder runs/jpq48/encoder --output runs/jpq48/encoder-onnx [--int8]

The output is an encoder dir like any other: ``search --encoder`` takes it and runs the
queries through ONNX Runtime instead of torch (see ``onnx_encoder.py`` and the README's
search-speed table for what each variant costs and gains).
"""
import sys
import time

from .encoder import DEFAULT_ENCODER
from .errors import Parser, cli
from .fsutil import atomic_dir, check_output_dir
from .onnx_encoder import ONNX_FILE, export


def build_parser():
    p = Parser(prog="jpq-pyserini export-onnx", description=__doc__.splitlines()[0])
    p.add_argument("--encoder", default=DEFAULT_ENCODER, help="encoder dir (trained by train, or Hugging Face)")
    p.add_argument("--output", required=True, help="ONNX encoder dir to write")
    p.add_argument("--int8", action="store_true", help="dynamic int8 weights (per channel); default float32")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --output")
    return p


@cli("jpq-pyserini export-onnx")
def main(argv=None):
    args = build_parser().parse_args(argv)
    check_output_dir(args.output, args.overwrite, inputs=[("--encoder", args.encoder)])
    t0 = time.perf_counter()
    with atomic_dir(args.output, args.overwrite) as tmp:
        export(args.encoder, tmp, args.int8)
        size = (tmp / ONNX_FILE).stat().st_size
    print(f"exported {args.encoder} ({'int8' if args.int8 else 'float32'}, {size / 2**20:.1f} MB) "
          f"in {time.perf_counter() - t0:.1f} s -> {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
