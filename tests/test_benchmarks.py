"""The scale simulation's pieces that do not need SciFact's 5,183 vectors or hours."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

spec = importlib.util.spec_from_file_location("scale", Path(__file__).parents[1] / "benchmarks" / "scale.py")
scale = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scale)


def test_distractors_are_regenerated_exactly_and_compete_with_their_sources():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((50, 32)).astype(np.float32)
    real /= np.linalg.norm(real, axis=1, keepdims=True)
    a = list(scale.chunks(real, 400, seed=3, size=150))
    b = list(scale.chunks(real, 400, seed=3, size=150))
    assert [s for s, _ in a] == [0, 150, 300] and [len(v) for _, v in a] == [150, 150, 100]
    assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(a, b))
    a = [v for _, v in a]
    v = np.concatenate(a)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    # each distractor is closer to some real document than real documents are to each other
    nearest = (v @ real.T).max(1)
    assert np.median(nearest) > np.sort(real @ real.T, 1)[:, -2].max()


def test_a_corpus_that_cannot_fit_in_memory_is_refused_in_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        scale.main(["--flat", "/nonexistent", "--n", str(10**12)])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and "--n 1000000000000: needs about" in err[0]


@pytest.mark.skipif(not Path("/usr/bin/time").exists(), reason="GNU time is not installed")
def test_a_training_process_is_timed_by_usr_bin_time(tmp_path):
    import subprocess
    import sys
    subprocess.run(["/usr/bin/time", "-v", "-o", str(tmp_path / "x.time"), sys.executable, "-c",
                    "import time; b = bytearray(300 * 2**20); time.sleep(0.2)"], check=True)
    timed = scale.time_v(tmp_path / "x.time")
    assert 0.2 / 60 < timed["wall_minutes"] < 1 and 0.29 < timed["peak_rss_gib"] < 1
    assert scale.time_v(tmp_path / "missing.time") == {}
