"""The SciFact regression: the quick reproduction must meet the spec's expected scores.

Minutes on 2 CPU cores (encodes 5,183 documents, trains JPQ), so it is marked slow:
run with ``make test-slow`` or ``pytest -m slow``.
"""
import pytest

from conftest import run_cli
from jpq_pyserini.reproduce import ROOT


@pytest.mark.slow
def test_scifact_quick_reproduction_within_tolerance(tmp_path):
    proc = run_cli("jpq_pyserini.reproduce", str(ROOT / "eval" / "scifact.yaml"), "--quick",
                   "--output", str(tmp_path / "report"), check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "report" / "ndcg_vs_bytes.png").exists()
