"""The query head: a linear map on the query encoder's output, trained with the PQ centroids
and folded into the faiss index as its first pre-transform.

Why a head: on NFCorpus (many relevant documents per query, 3-word queries) fine-tuning the
transformer pulled dev nDCG@10 down in its first epoch at every learning rate tried, while a
linear map on the frozen encoder's embeddings, trained with the same loss, lifts dev on both
collections (``eval/results/sweeps/``). The map is part of the query encoder, so JPQ still
trains the query side and the centroids together; with the transformer frozen its output is
computed once per query, so a step costs a lookup instead of a forward and backward pass.

Why in the index: faiss applies an ``IndexPreTransform``'s chain to every query before the
search, and the documents are already codes, so ``y = W q + b`` in front of the OPQ rotation
scores exactly as the head does in training. Pyserini's stock ``FaissSearcher`` reads the
index as it is; the encoder dir stays a plain Hugging Face model. (Adding documents to such an
index later would pass them through the head as well: re-index from the source instead.)
"""
import faiss
import numpy as np
import torch
from faiss.contrib.inspect_tools import make_LinearTransform_matrix

HEAD_FILE = "query_head.safetensors"


class QueryHead(torch.nn.Module):
    """``normalize(W q + b)``, starting at the identity (the untrained model). Training sees
    unit-length vectors, so the loss's temperature keeps its meaning; the index applies the map
    without the normalization, which rescales each query's scores and leaves its ranking alone."""

    def __init__(self, dim):
        super().__init__()
        self.linear = torch.nn.Linear(dim, dim)
        with torch.no_grad():
            self.linear.weight.copy_(torch.eye(dim))
            self.linear.bias.zero_()

    def forward(self, q):
        return torch.nn.functional.normalize(self.linear(q), dim=-1)

    def save(self, path):
        from safetensors.torch import save_file
        save_file({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}, str(path))

    @classmethod
    def load(cls, path):
        from safetensors.torch import load_file
        state = load_file(str(path))
        head = cls(state["linear.weight"].shape[1])
        head.load_state_dict(state)
        return head

    def fold_into(self, index):
        """``index`` with this head as the first transform of its chain (a new wrapper when it
        has none); the inner index and any OPQ rotation are unchanged."""
        transform = make_LinearTransform_matrix(np.ascontiguousarray(self.linear.weight.detach().cpu().float().numpy()),
                                                self.linear.bias.detach().cpu().float().numpy())
        if not isinstance(index, faiss.IndexPreTransform):
            return faiss.IndexPreTransform(transform, index)  # the wrapper keeps both alive
        index.prepend_transform(transform)
        if index.own_fields:  # it frees its chain (an index read from disk): hand the transform over
            transform.this.disown()
        else:
            index.referenced_objects = getattr(index, "referenced_objects", []) + [transform]
        return index


def fold_head_into_dir(head_file, index_dir, output):
    """Write ``index_dir`` with the head of ``head_file`` folded in to the (new) dir ``output``:
    a head trained on one index of a collection's vectors, searched on another (reproduce's
    flat-trained baseline on a PQ index)."""
    from .indexdir import inherited, read_index_dir, write_index_dir

    index, docids, meta = read_index_dir(index_dir)
    write_index_dir(output, QueryHead.load(head_file).fold_into(index), docids,
                    {**inherited(meta), "query_head": str(head_file)})
