"""Query encoders on ONNX Runtime, for fast CPU search.

``export`` turns any encoder dir (a JPQ-trained one, or a Hugging Face model) into an
encoder dir that ``jpq-pyserini search --encoder`` takes like any other: ``model.onnx``
(the transformer up to its last hidden state, with onnxruntime's BERT fusions; with
``int8`` its weights dynamically quantised per channel), the tokenizer, ``config.json`` and
``jpq_encoder.json``. Pooling, normalisation, prefix and the query length stay outside the
graph and follow the same ``EncoderConfig`` as ``TextEncoder.forward``, so the two cannot
drift apart.

Why: at query time torch's per-call overhead costs as much as the model itself for one
query, and a 4-bit fast-scan search takes about 2 ms; the encoder is the bottleneck.
"""
import contextlib
import json
import logging
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .encoder import CONFIG_FILE, QUERY_MAX_LENGTH, EncoderConfig, TextEncoder
from .errors import UsageError

ONNX_FILE = "model.onnx"
DYNAMIC_INT8 = "jpq_dynamic_int8"  # model metadata: activations quantised with scales taken per call
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


def onnx_dim(path, flag="--encoder"):
    """The vector size the ONNX graph itself produces (not what config.json claims)."""
    dim = _session(path, 1, flag, path).get_outputs()[0].shape[-1]
    if not isinstance(dim, int):
        raise UsageError(f"{flag} {path}: {ONNX_FILE} has no fixed output dimension (expected [batch, tokens, dim])")
    return dim


class OnnxEncoder:
    """``TextEncoder.encode`` on ONNX Runtime: same pooling, normalisation and batching by length."""

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
        self.dim = onnx_dim(path, flag)
        # Dynamic int8 takes each activation's scale over the whole call, so a query's vector
        # would depend on the queries batched with it: one query per call keeps runs the same
        # at any --batch-size (and batching gains int8 nothing measurable on CPU).
        self.per_query = DYNAMIC_INT8 in self.session.get_modelmeta().custom_metadata_map

    def _forward(self, texts, max_length):
        batch = self.tokenizer([self.config.prefix + t for t in texts], padding=True, truncation=True,
                               max_length=max_length, return_tensors="np")
        hidden = self.session.run(None, {k: batch[k].astype(np.int64) for k in self.inputs})[0]
        if self.config.pooling == "mean":
            mask = batch["attention_mask"][..., None].astype(np.float32)
            emb = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
        else:
            emb = hidden[:, 0]
        if self.config.normalize:
            emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        return emb.astype(np.float32)

    def encode(self, texts, batch_size=64, max_length=None, **_):
        max_length = max_length or self.config.max_length
        batch_size = 1 if self.per_query else batch_size
        order = np.argsort([len(t) for t in texts])[::-1]  # similar lengths together: less padding
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            out[idx] = self._forward([texts[i] for i in idx], max_length)
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
    (out / CONFIG_FILE).write_text(json.dumps(asdict(source.config), indent=2) + "\n")
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
        import onnx
        graph = onnx.load(str(out / ONNX_FILE))
        onnx.helper.set_model_props(graph, {DYNAMIC_INT8: "1"})
        onnx.save(graph, str(out / ONNX_FILE))
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
