"""Checkpoints of a training run: weights (safetensors) plus optimizer, schedule and RNG state.

One weights layout serves every file: ``encoder.<name>`` for the query encoder's tensors (left
out while it is frozen: they never change), ``head.<name>`` for the query head's and
``centroids`` for a PQ codebook's. ``checkpoints/last`` resumes a run; ``checkpoints/best``
holds the dev-selected weights that the run exports at the end.
"""
import json
import random

import numpy as np
import torch

from .errors import UsageError
from .fsutil import atomic_dir, read_json


def snapshot(run):
    """The trainable weights of a ``train.Run`` (encoder, head, centroids) as one flat dict,
    detached copies."""
    state = {}
    if run.frozen is None:
        state.update((f"encoder.{k}", v.detach().clone().contiguous()) for k, v in run.encoder.model.state_dict().items())
    if run.head is not None:
        state.update((f"head.{k}", v.detach().clone().contiguous()) for k, v in run.head.state_dict().items())
    if run.scorer.centroids is not None:
        state["centroids"] = run.scorer.centroids.detach().clone()
    return state


def _part(state, prefix):
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def restore(run, state):
    if state is None:
        return
    if run.frozen is None:
        run.encoder.model.load_state_dict(_part(state, "encoder."))
    if run.head is not None:
        run.head.load_state_dict(_part(state, "head."))
    if "centroids" in state:
        run.scorer.centroids.data.copy_(state["centroids"])


def write_weights(path, state):
    from safetensors.torch import save_file
    with atomic_dir(path, overwrite=True, flag="checkpoint") as tmp:
        save_file(state, str(tmp / "weights.safetensors"))


def read_weights(path):
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    try:
        return load_file(str(path / "weights.safetensors"))
    except (SafetensorError, OSError) as e:
        raise UsageError(f"{path / 'weights.safetensors'}: unreadable weights ({str(e).splitlines()[0][:200]})") from None


def rng_state(generator=None):
    """Every random stream a step draws from, so that a resumed run continues exactly; numpy's as
    plain lists, so that ``torch.load(weights_only=True)`` reads it without unpickling objects."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "numpy": [kind, keys.tolist(), pos, has_gauss, gauss],
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:  # the negative sampler's own (--negatives random)
        state["sampler"] = generator.get_state()
    return state


def set_rng_state(state, generator=None):
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "sampler" in state and generator is not None:
        generator.set_state(state["sampler"])


def save(path, run, step, best, fingerprint):
    from safetensors.torch import save_file

    with atomic_dir(path, overwrite=True, flag="checkpoint") as tmp:
        save_file(snapshot(run), str(tmp / "weights.safetensors"))
        torch.save({"optimizer": run.optimizer.state_dict(), "scheduler": run.scheduler.state_dict(), "step": step,
                    "best": best, "rng": rng_state(run.sampler.generator)}, tmp / "state.pt")
        (tmp / "config.json").write_text(json.dumps(fingerprint, indent=2))


def load(path, run, fingerprint):
    """Restore everything ``save`` wrote; returns (step, best). Refuses a checkpoint made with a
    different configuration, naming the first differences."""
    saved = read_json(path / "config.json", "--resume")
    diff = sorted(k for k in set(saved) | set(fingerprint) if saved.get(k) != fingerprint.get(k))
    if diff:
        raise UsageError(f"--resume: checkpoint {path} was made with a different configuration "
                         f"({', '.join(f'{k}={saved.get(k)!r} vs {fingerprint.get(k)!r}' for k in diff[:3])})")
    try:
        restore(run, read_weights(path))
        state = torch.load(path / "state.pt", weights_only=True)  # tensors and plain values: no code from data
        run.optimizer.load_state_dict(state["optimizer"])
        run.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"], run.sampler.generator)
        return state["step"], state["best"]
    except UsageError:
        raise
    except Exception as e:  # torch.load and safetensors raise many types for a damaged file
        reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise UsageError(f"--resume: checkpoint {path} is damaged ({reason}); "
                         f"rerun without --resume (with --overwrite) to start again") from None
