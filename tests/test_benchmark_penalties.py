"""benchmarks/penalties.py runs end to end (--tiny) and writes its JSON, markdown and PNGs.

Only sanity is asserted (keys, files, correlations in [-1, 1]); no timings, no benchmark numbers.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # benchmarks/ is a top-level folder, not part of the package
    sys.path.insert(0, str(ROOT))

from benchmarks.penalties import FAMILIES, family_gaussian, true_w2  # noqa: E402


def test_families_hit_their_target_w2():
    for fam in FAMILIES:
        for d in (2, 8):
            for w in (0.0, 0.5, 2.0):
                m, c = family_gaussian(fam, d, w, np.random.default_rng(0))
                assert math.isclose(true_w2(m, c), w, abs_tol=1e-5)


def test_penalty_benchmark_tiny(tmp_path):
    # as a user runs it: python -m benchmarks.penalties, from the repository root
    subprocess.run([sys.executable, "-m", "benchmarks.penalties", "--tiny", "--out",
                    str(tmp_path)], cwd=ROOT, check=True, capture_output=True, timeout=600)
    data = json.loads((tmp_path / "benchmarks_penalties.json").read_text())
    assert {"mode", "config", "machine", "wall_s", "spearman", "summary", "minibatch_bias",
            "rows"} <= set(data)
    assert data["mode"] == "tiny"
    for key in ("numpy", "scipy", "pot", "geomloss", "torch", "cpu_count"):
        assert key in data["machine"]
    pens = {s["penalty"] for s in data["summary"]}
    assert {"mmd-imq", "mmd-rbf-median", "kl-moment", "sliced-w2", "sinkhorn",
            "exact-w2", "adversarial-js"} <= pens
    assert {s["family"] for s in data["summary"]} == set(FAMILIES)
    for s in data["summary"]:
        assert {"spearman", "monotonicity_violations", "value_at_null", "std_at_null",
                "time_s", "true_w2", "mean", "std"} <= set(s)
        assert s["spearman"] is None or -1.0 <= s["spearman"] <= 1.0
        assert 0 <= s["monotonicity_violations"] <= s["monotonicity_pairs"]
        assert all(np.isfinite(s["mean"]))
    for b in data["minibatch_bias"]:
        assert b["mean"] >= -1e-9  # W_2^2 of two minibatches is nonnegative
    md = (tmp_path / "benchmarks-penalties.md").read_text()
    assert "### Findings" in md and "Spearman" in md
    for fam in FAMILIES:
        assert (tmp_path / f"benchmarks-penalties-{fam}.png").stat().st_size > 0
    assert (tmp_path / "benchmarks-penalties-minibatch-bias.png").stat().st_size > 0
