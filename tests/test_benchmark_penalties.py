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

from benchmarks.penalties import (CLOSED, FAMILIES, NG_PARAMS, NONGAUSS,  # noqa: E402
                                  family_gaussian, ng_sample, quantile_w2, true_w2)


def test_families_hit_their_target_w2():
    for fam in CLOSED:
        for d in (2, 8):
            for w in (0.0, 0.5, 2.0):
                m, c = family_gaussian(fam, d, w, np.random.default_rng(0))
                assert math.isclose(true_w2(m, c), w, abs_tol=1e-5)


def test_nongaussian_families_are_moment_matched_and_ordered():
    rng = np.random.default_rng(0)
    R = np.linalg.qr(rng.standard_normal((8, 8)))[0]
    for fam in NONGAUSS:
        for param in NG_PARAMS[fam]:
            x = ng_sample(fam, param, 8, 200_000, rng, R)
            assert np.allclose(x.mean(0), 0.0, atol=0.02)
            assert np.allclose(np.cov(x.T), np.eye(8), atol=0.05)
        w = [quantile_w2(fam, param, n=100_000) for param in NG_PARAMS[fam]]
        assert w[0] < 0.02 and all(b > a for a, b in zip(w, w[1:])), (fam, w)


def test_penalty_benchmark_tiny(tmp_path):
    # as a user runs it: python -m benchmarks.penalties, from the repository root
    subprocess.run([sys.executable, "-m", "benchmarks.penalties", "--tiny", "--out",
                    str(tmp_path)], cwd=ROOT, check=True, capture_output=True, timeout=600)
    data = json.loads((tmp_path / "benchmarks_penalties.json").read_text())
    assert {"mode", "config", "machine", "wall_s", "spearman", "summary", "minibatch_bias",
            "rows", "ground_truths", "power"} <= set(data)
    assert data["mode"] == "tiny"
    for key in ("numpy", "scipy", "pot", "geomloss", "pykeops", "torch", "otgen", "cpu_count",
                "platform"):
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
    for fam in NONGAUSS:
        for r in data["ground_truths"][fam]["levels"]:
            lo, hi = r["certified_w2"]
            assert lo <= min(r["w2_draws"]) + 1e-9 and max(r["w2_draws"]) <= hi + 1e-9
    assert {r["penalty"] for r in data["power"]} >= {"mmd-imq", "exact-w2", "adversarial-js"}
    for r in data["power"]:
        if r["penalty"] != "_time":
            assert 0.0 <= r["power"] <= 1.0 and all(0 < p <= 1 for p in r["pvalues"])
    assert len({s["n"] for s in data["summary"] if s["penalty"] == "adversarial-js"}) >= 2
    for b in data["minibatch_bias"]:
        assert b["mean"] >= -1e-9  # W_2^2 of two minibatches is nonnegative
    md = (tmp_path / "benchmarks-penalties.md").read_text()
    assert "### Findings" in md and "Spearman" in md
    for fam in FAMILIES:
        assert (tmp_path / f"benchmarks-penalties-{fam}.png").stat().st_size > 0
    assert (tmp_path / "benchmarks-penalties-minibatch-bias.png").stat().st_size > 0
    assert (tmp_path / "benchmarks-penalties-power.png").stat().st_size > 0
    # --replot redraws from the JSON (ground truths cached there) without re-measuring
    (tmp_path / "benchmarks-penalties.md").unlink()
    subprocess.run([sys.executable, "-m", "benchmarks.penalties", "--replot", "--out",
                    str(tmp_path)], cwd=ROOT, check=True, capture_output=True, timeout=600)
    assert (tmp_path / "benchmarks-penalties.md").read_text() == md
