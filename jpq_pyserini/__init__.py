"""jpq-pyserini: JPQ-compressed dense retrieval for Pyserini.

Importing is cheap (no torch, no JVM) and leaves the process's environment as it is: it
adds an import hook that prepares Java when Pyserini is imported, and registers the shipped
datasets with ir_datasets. The API loads its heavy parts on first use.
"""
__version__ = "0.1.0"

from . import _bootstrap

_bootstrap.install()
if _bootstrap.is_plugin_command():
    _bootstrap.command_env()

from .shipped import register as _register_shipped  # noqa: E402

_register_shipped()

_LAZY = {
    "load_dataset": "jpq_pyserini.datasets",
    "JpqQueryEncoder": "jpq_pyserini.query_encoder",
    "build_pq_index": "jpq_pyserini.index",
    "train_jpq": "jpq_pyserini.train",
    "TrainConfig": "jpq_pyserini.train",
    "evaluate": "jpq_pyserini.eval",
    "compare": "jpq_pyserini.eval",
}
__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jpq_pyserini' has no attribute {name!r}")
