"""``JpqQueryEncoder``: a Pyserini ``QueryEncoder`` over a JPQ encoder dir (or any HF encoder,
or an ONNX encoder dir from ``export-onnx``, run on ONNX Runtime).

Importing this module imports ``pyserini.encode`` (torch, transformers) and changes nothing
in Pyserini; ``registered()`` puts the class first in Pyserini's ``query_encoder_class_map``
under ``jpq`` while Pyserini's own search command runs inside the plugin's ``search``.
"""
import contextlib
from pathlib import Path

import torch
from pyserini.encode import QueryEncoder, query_encoder_class_map

from .encoder import CONFIG_FILE, QUERY_MAX_LENGTH, TextEncoder, resolve_device, resolve_model
from .errors import UsageError
from .onnx_encoder import OnnxEncoder, is_onnx_dir


class JpqQueryEncoder(QueryEncoder):
    def __init__(self, encoder_dir=None, device="cpu", max_length=None, pooling=None, l2_norm=None,
                 prefix=None, tokenizer_name=None, fp16=False, **_pyserini_extras):
        # Pyserini's search command passes tokenizer_name/fp16 and, for paths containing
        # "sentence", pooling/l2_norm; explicit values override what the directory says.
        super().__init__()
        if is_onnx_dir(resolve_model(encoder_dir)):
            if str(device).startswith("cuda"):
                raise UsageError(f"--device {device}: ONNX encoders run on the CPU; pass the torch encoder dir for GPUs")
            # as many threads as torch would use, so OMP_NUM_THREADS / torch.set_num_threads apply to both
            self.encoder = OnnxEncoder(encoder_dir, threads=torch.get_num_threads())
        else:
            self.encoder = TextEncoder(encoder_dir, resolve_device(device))
        cfg = self.encoder.config
        if max_length is not None:
            cfg.max_length = max_length
        elif not (Path(self.encoder.path) / CONFIG_FILE).exists():
            cfg.max_length = QUERY_MAX_LENGTH  # not the document encoder's own (document) length
        if pooling:
            cfg.pooling = pooling
        if l2_norm is not None:
            cfg.normalize = bool(l2_norm)
        if prefix:
            cfg.prefix = prefix
        if fp16 and str(getattr(self.encoder, "device", "cpu")).startswith("cuda"):
            self.encoder.half()
        self.has_model = True

    @property
    def dim(self):
        return self.encoder.dim

    def encode(self, query: str, **kwargs):
        return self.encode_batch([query])[0]

    @torch.inference_mode()
    def encode_batch(self, queries, **kwargs):
        return self.encoder.encode(list(queries), batch_size=max(1, len(queries)))


@contextlib.contextmanager
def registered():
    """Pyserini's encoder map with ``jpq`` first (it wins Pyserini's keyword match), restored after."""
    saved = dict(query_encoder_class_map)
    query_encoder_class_map.clear()
    query_encoder_class_map.update({"jpq": JpqQueryEncoder, **{k: v for k, v in saved.items() if k != "jpq"}})
    try:
        yield
    finally:
        query_encoder_class_map.clear()
        query_encoder_class_map.update(saved)
