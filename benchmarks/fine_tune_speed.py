"""The cost of a transformer training step by ``--fine-tune-layers``, side by side.

    python benchmarks/fine_tune_speed.py [--queries jpq-pyserini/scifact/train/fit] [--steps 6]
                                         [--batch-size 32] [--threads 2] [--layers 0 6 3 2 1]

One training step of the query encoder as ``train``'s second stage takes it (forward over a
batch of queries at 32 tokens, backward, AdamW over the trainable parameters), for every
number of top blocks trained, in one process, one after another, the first setting again at
the end to show the drift of a shared machine. Prints seconds per step and the speed-up over
training every block and the embeddings (``--fine-tune-layers`` unset).
"""
import argparse
import time


def step_seconds(texts, layers, steps, batch_size):
    import torch

    from jpq_pyserini.encoder import DEFAULT_ENCODER, QUERY_MAX_LENGTH, TextEncoder
    from jpq_pyserini.train import freeze_below

    encoder = TextEncoder(DEFAULT_ENCODER)
    if layers is not None:
        freeze_below(encoder.model, layers, DEFAULT_ENCODER)
    encoder.model.train()
    params = [p for p in encoder.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    times = []
    for s in range(steps + 1):  # the first step warms up allocations: not counted
        batch = texts[(s * batch_size) % len(texts):][:batch_size]
        t0 = time.perf_counter()
        encoder(batch, QUERY_MAX_LENGTH).pow(2).mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
    return sum(times[1:]) / steps, sum(p.numel() for p in params)


def main(argv=None):
    import torch

    from jpq_pyserini.datasets import load_dataset

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--queries", default="jpq-pyserini/scifact/train/fit")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--layers", type=int, nargs="+", default=[0, 6, 3, 2, 1],
                   help="top blocks trained (0: the flag unset, every block and the embeddings)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    texts = [q.text for q in load_dataset(args.queries).queries_iter()]
    settings = args.layers + [args.layers[0]]
    print(f"{args.queries}: {args.steps} steps of {args.batch_size} queries, {args.threads} threads\n")
    print("| --fine-tune-layers | trainable parameters | s/step | x all |\n|---|---:|---:|---:|")
    base = None
    for i, layers in enumerate(settings):
        seconds, n = step_seconds(texts, layers or None, args.steps, args.batch_size)
        base = base or seconds
        label = (str(layers) if layers else "unset (every block, the embeddings too)") + (" again" if i == len(settings) - 1 else "")
        print(f"| {label} | {n / 1e6:.1f}M | {seconds:.2f} | {base / seconds:.2f} |", flush=True)


if __name__ == "__main__":
    main()
