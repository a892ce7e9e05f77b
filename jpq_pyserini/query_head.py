"""The query head: a linear map on the query encoder's output, trained with the PQ centroids.

Why a head: on NFCorpus (many relevant documents per query, 3-word queries) fine-tuning the
transformer pulled dev nDCG@10 down in its first epoch at every learning rate tried, while a
linear map on the frozen encoder's embeddings, trained with the same loss, lifts dev on both
collections (``eval/results/sweeps/``). With the transformer frozen its output is computed once
per query, so a training step costs a lookup instead of a forward and backward pass.

Why in the encoder: the head is part of the query side, so it lives in the encoder dir
(``query_head.safetensors``, named by ``jpq_encoder.json``) and ``TextEncoder``, the ONNX encoder
and ``JpqQueryEncoder`` return ``normalize(W q + b)``, the very vectors training scored. The
index stays a plain (O)PQ index: faiss's ``add`` and ``reconstruct`` (Pyserini's PRF) see only
document-side transforms. ``fold-head`` writes a copy with the map in the index for stock
Pyserini, marked as such (``FOLDED``).
"""
from pathlib import Path

import faiss
import numpy as np
import torch
from faiss.contrib.inspect_tools import make_LinearTransform_matrix

from .errors import UsageError

HEAD_FILE = "query_head.safetensors"


class QueryHead(torch.nn.Module):
    """``normalize(W q + b)``, starting at the identity (the untrained model). Unit-length
    outputs keep the loss's temperature meaningful and the run's scores on one scale for every
    query (score fusion, thresholds)."""

    def __init__(self, dim):
        super().__init__()
        self.linear = torch.nn.Linear(dim, dim)
        with torch.no_grad():
            self.linear.weight.copy_(torch.eye(dim))
            self.linear.bias.zero_()

    @property
    def dim(self):
        return self.linear.in_features

    def forward(self, q):
        return torch.nn.functional.normalize(self.linear(q), dim=-1)

    def save(self, path):
        from safetensors.torch import save_file
        save_file({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}, str(path))

    @classmethod
    def load(cls, path, flag="--encoder"):
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            state = load_file(str(path))
            weight = state["linear.weight"]
            if weight.ndim != 2 or weight.shape[0] != weight.shape[1] or state["linear.bias"].shape != weight.shape[:1]:
                raise ValueError(f"expected a square weight and a bias, found {tuple(weight.shape)}")
        except (SafetensorError, OSError, KeyError, ValueError) as e:
            raise UsageError(f"{flag} {Path(path).parent}: {Path(path).name} is not a query head "
                             f"({str(e).splitlines()[0][:160]})") from None
        head = cls(weight.shape[1])
        head.load_state_dict(state)
        return head

    def numpy(self):
        """(W, b) as float32 arrays, for encoders outside torch (ONNX Runtime)."""
        return (self.linear.weight.detach().cpu().float().numpy(), self.linear.bias.detach().cpu().float().numpy())

    def fold_into(self, index):
        """``index`` with ``y = W q + b`` as the first transform of its chain (a new wrapper when
        it has none). faiss would also apply it to added documents and invert it on
        ``reconstruct``: only for a copy that stock Pyserini searches (``fold-head``)."""
        w, b = self.numpy()
        transform = make_LinearTransform_matrix(np.ascontiguousarray(w), b)
        transform.is_orthonormal = False  # faiss's constructor guesses; it is not, and reconstruct must say so
        if not isinstance(index, faiss.IndexPreTransform):
            return faiss.IndexPreTransform(transform, index)  # the wrapper keeps both alive
        index.prepend_transform(transform)
        if index.own_fields:  # it frees its chain (an index read from disk): hand the transform over
            transform.this.disown()
        else:
            index.referenced_objects = getattr(index, "referenced_objects", []) + [transform]
        return index


def apply_numpy(head, emb):
    """``QueryHead.forward`` on float32 arrays [n, d] with ``head = (W, b)``."""
    w, b = head
    out = emb @ w.T + b
    return out / np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), 1e-12)
