"""Query encoders on ONNX Runtime, for fast CPU search.

``export`` turns any encoder dir (a JPQ-trained one, or a Hugging Face model) into an
encoder dir that ``jpq-pyserini search --encoder`` takes like any other: ``model.onnx``
(the transformer up to its last hidden state, with onnxruntime's BERT fusions; with
``int8`` its weights dynamically quantised per channel), the tokenizer, ``config.json`` and
``jpq_encoder.json`` (with a trained query head, ``query_head.safetensors``). Pooling,
normalisation, the head, prefix and the query length stay outside the graph and follow the same
``EncoderConfig`` as ``TextEncoder.forward``, so the two cannot drift apart.

Why: at query time torch's per-call overhead costs as much as the model itself for one
query, and a 4-bit fast-scan search takes about 2 ms; the encoder is the bottleneck.
"""
import contextlib
import logging
import warnings
from pathlib import Path

import numpy as np

from .encoder import CONFIG_FILE, QUERY_MAX_LENGTH, EncoderConfig, TextEncoder, length_batches, load_head, save_config
from .errors import UsageError
from .query_head import apply_numpy

ONNX_FILE = "model.onnx"
OPSET = 17


def is_onnx_dir(path):
    return (Path(path) / ONNX_FILE).is_file()


def _session(path, threads, flag, name):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # 0: onnxruntime's default (one per physical core)
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(Path(path) / ONNX_FILE), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own Fail/InvalidProtobuf/... types
        reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise UsageError(f"{flag} {name}: {ONNX_FILE} is not a readable ONNX model ({reason})") from None


def onnx_dim(path, flag="--encoder", session=None):
    """The vector size the ONNX graph itself produces (not what config.json claims)."""
    dim = (session or _session(path, 1, flag, path)).get_outputs()[0].shape[-1]
    if not isinstance(dim, int):
        raise UsageError(f"{flag} {path}: {ONNX_FILE} has no fixed output dimension (expected [batch, tokens, dim])")
    return dim


class OnnxEncoder:
    """``TextEncoder.encode`` on ONNX Runtime: the same tokenizer, pooling and normalisation."""

    def __init__(self, path, threads=0, flag="--encoder"):
        from transformers import AutoTokenizer

        self.path = str(path)
        self.config = EncoderConfig.detect(path)
        self.session = _session(path, threads, flag, path)
        self.inputs = [i.name for i in self.session.get_inputs()]
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        except Exception as e:
            raise UsageError(f"{flag} {path}: cannot load the tokenizer ({str(e).strip().splitlines()[0][:160]})") from None
        self.dim = onnx_dim(path, flag, self.session)  # the graph is loaded once
        head = load_head(path, self.config, self.dim, flag)
        self.head = None if head is None else head.numpy()

    def _forward(self, texts, max_length):
        batch = self.tokenizer([self.config.prefix + t for t in texts], padding=True, truncation=True,
                               max_length=max_length, return_tensors="np")
        hidden = self.session.run(None, {k: batch[k].astype(np.int64) for k in self.inputs})[0]
        if self.config.pooling == "mean":
            mask = batch["attention_mask"][..., None].astype(hidden.dtype)
            emb = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
        else:
            emb = hidden[:, 0]
        if self.config.normalize:
            emb = emb / np.maximum(np.linalg.norm(emb, axis=-1, keepdims=True), 1e-12)
        return emb if self.head is None else apply_numpy(self.head, emb)

    def encode(self, texts, batch_size=None, max_length=None, progress=False, desc="encoding", padded=False):
        """float32 [len(texts), dim]. Queries go one per call (the default): on CPU that is
        faster than padded batches of short texts (search_speed.py), and dynamic int8 takes each
        activation's scale over the whole call, so batching would make a query's vector depend
        on its neighbours. ``padded``: length-sorted batches of ``batch_size``, as
        ``TextEncoder.encode`` runs them, for documents (``benchmarks/encode_speed.py``)."""
        max_length = max_length or self.config.max_length
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if padded:
            for idx in length_batches(self, texts, batch_size or 64, max_length, progress, desc):
                out[idx] = self._forward([texts[i] for i in idx], max_length)
        else:
            for i, text in enumerate(texts):
                out[i] = self._forward([text], max_length)[0]
        return out


def export(encoder, output_dir, int8=False):
    """Write an ONNX encoder dir for ``encoder`` into the existing directory ``output_dir``."""
    import torch
    from transformers import AutoModel

    source = TextEncoder(encoder)  # validates the dir and reads its pooling config
    if not (Path(source.path) / CONFIG_FILE).exists():
        source.config.max_length = QUERY_MAX_LENGTH  # a query encoder: the query length, as search uses
    # eager attention exports as plain MatMul/Softmax, which onnxruntime's optimiser fuses
    model = AutoModel.from_pretrained(source.path, attn_implementation="eager").eval()
    names = list(source.tokenizer.model_input_names)

    class Hidden(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return self.model(**dict(zip(names, inputs))).last_hidden_state

    out = Path(output_dir)
    with warnings.catch_warnings(), _quiet_logging():
        warnings.simplefilter("ignore")  # the tracer's and onnxruntime's notes on the graph, not the user's problem
        _write_graph(Hidden(), source.tokenizer, names, model.config, out, int8)
    source.tokenizer.save_pretrained(out)
    model.config.save_pretrained(out)
    save_config(out, source.config, source.head)
    return source


def _write_graph(module, tokenizer, names, config, out, int8):
    import torch

    sample = tokenizer(["an example query", "a second, somewhat longer example query"], padding=True,
                       return_tensors="pt")
    plain = out / "plain.onnx"
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]}
    with torch.no_grad():
        torch.onnx.export(module, tuple(sample[n] for n in names), str(plain), input_names=names,
                          output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=OPSET,
                          dynamo=False)
    fused = _optimise(plain, config, out / "fused.onnx")
    if int8:
        from onnx import TensorProto
        from onnxruntime.quantization import QuantType, quantize_dynamic
        # per channel: per-tensor scales cost MiniLM a cosine of 0.92 to the float vectors, per channel 0.98
        quantize_dynamic(str(fused), str(out / ONNX_FILE), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": TensorProto.FLOAT})
    else:
        fused.rename(out / ONNX_FILE)
    for tmp in (plain, fused):
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _quiet_logging():
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _optimise(path, config, target):
    """onnxruntime's transformer fusions (attention, LayerNorm, GELU) where it knows the model type."""
    from onnxruntime.transformers.optimizer import MODEL_TYPES, optimize_model

    if config.model_type not in MODEL_TYPES:
        return path
    optimised = optimize_model(str(path), model_type=config.model_type, num_heads=config.num_attention_heads,
                               hidden_size=config.hidden_size, opt_level=1)
    optimised.save_model_to_file(str(target))
    return target
