"""Document encoding speed: torch against ONNX Runtime (float, dynamic int8), side by side.

    python benchmarks/encode_speed.py [--corpus jpq-pyserini/scifact] [--docs 1000]
                                      [--batch-size 16 64] [--threads 2] [--max-length 256]

Encodes the same documents (the corpus's first ``--docs``) with every path, in one process,
one after another, and prints docs/s, the ratio to torch's batches of 64 (``jpq-pyserini
encode``'s default), and the cosine of each vector to torch's. Every batched path sorts the
documents by token length first (``encoder.length_batches``), as ``encode`` does; the
one-per-call row has no padding at all, and the corpus-order row shows what the sort saves. The ONNX graphs are ``export-onnx``'s, exported into a
temporary directory (its seconds are printed too).
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main(argv=None):
    import torch

    from jpq_pyserini.encode import read_corpus
    from jpq_pyserini.encoder import DEFAULT_ENCODER, TextEncoder
    from jpq_pyserini.onnx_encoder import OnnxEncoder, export

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="jpq-pyserini/scifact")
    p.add_argument("--encoder", default=DEFAULT_ENCODER)
    p.add_argument("--docs", type=int, default=1000, help="the corpus's first N documents")
    p.add_argument("--batch-size", type=int, nargs="+", default=[16, 64])
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--skip-one-per-call", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    texts = read_corpus(args.corpus)[1][:args.docs]
    model = TextEncoder(args.encoder)
    model.encode(texts[:32], batch_size=32, max_length=args.max_length)  # warm-up: first-call allocations
    reference, base = timed(lambda: model.encode(texts, batch_size=64, max_length=args.max_length))
    rows = [("torch float32, batches of 64", base, reference)]

    def corpus_order():  # the same batches without the length sort: what the sort saves
        with torch.inference_mode():
            return np.concatenate([model.forward(texts[i:i + 64], args.max_length).numpy()
                                   for i in range(0, len(texts), 64)])
    rows.append(("torch float32, batches of 64 in corpus order", *timed(corpus_order)[::-1]))
    for b in args.batch_size:
        if b != 64:
            rows.append((f"torch float32, batches of {b}",
                         *timed(lambda: model.encode(texts, batch_size=b, max_length=args.max_length))[::-1]))
    exports = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, int8 in (("float32", False), ("int8", True)):
            Path(tmp, name).mkdir()
            exports[name] = timed(lambda: export(args.encoder, Path(tmp, name), int8))[1]
            onnx = OnnxEncoder(Path(tmp, name), threads=args.threads)
            onnx.encode(texts[:32], batch_size=32, max_length=args.max_length, padded=True)
            for b in args.batch_size:
                out, s = timed(lambda: onnx.encode(texts, batch_size=b, max_length=args.max_length, padded=True))
                rows.append((f"ONNX Runtime {name}, batches of {b}", s, out))
            if not args.skip_one_per_call:
                out, s = timed(lambda: onnx.encode(texts, max_length=args.max_length))
                rows.append((f"ONNX Runtime {name}, 1 per call", s, out))
    words = np.mean([len(t.split()) for t in texts])
    print(f"{len(texts)} documents of {args.corpus} ({words:.0f} words on average, {model.truncated} "
          f"over {args.max_length} tokens), {args.encoder}, {args.threads} threads; "
          f"ONNX export: float32 {exports['float32']:.1f} s, int8 {exports['int8']:.1f} s")
    print("| path | docs/s | x torch (batches of 64) | min cosine to torch | mean cosine |")
    print("|---|---:|---:|---:|---:|")
    for name, seconds, vectors in rows:
        cos = (vectors * reference).sum(1)
        print(f"| {name} | {len(texts) / seconds:.1f} | {base / seconds:.2f} | {cos.min():.6f} | {cos.mean():.6f} |",
              flush=True)


if __name__ == "__main__":
    main()
