"""benchmarks/estimators.py runs end to end (--tiny) and writes its JSON, markdown and PNG.

No timing is asserted.  What is asserted is honest: the exact solvers agree with each other and
every certified otgen interval contains the exact value wherever the truth is exact.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # benchmarks/ is a top-level folder, not part of the package
    sys.path.insert(0, str(ROOT))

from benchmarks.estimators import fit_exponent, ground_truth, predict  # noqa: E402


def test_exponent_fit_and_prediction():
    pts = [(1000, 1.0), (2000, 4.0), (4000, 16.0)]
    assert math.isclose(fit_exponent(pts), 2.0)
    assert math.isclose(predict(pts, 8000), 64.0)
    assert fit_exponent([(1000, 1.0)]) is None
    assert math.isclose(predict([(1000, 1.0)], 2000), 4.0)  # k = 2 assumed with one size
    assert math.isclose(predict([(1000, 1.0), (2000, 1.0)], 4000), 2.0)  # k >= 1


def test_ground_truth_exact_then_interval_intersection():
    rows = [dict(method="otgen sparse", status="ok", value=1.02, lower=1.0, upper=1.02),
            dict(method="otgen auto", status="ok", value=1.05, lower=0.99, upper=1.05)]
    v, hw, kind, src = ground_truth(rows)
    assert kind == "interval" and src == "otgen sparse"
    assert math.isclose(v, 1.01) and math.isclose(hw, 0.01)
    rows.append(dict(method="ot.emd2", status="ok", value=1.01))
    assert ground_truth(rows)[2:] == ("exact", "ot.emd2")


def test_estimator_benchmark_tiny(tmp_path):
    # as a user runs it: python -m benchmarks.estimators, from the repository root
    subprocess.run([sys.executable, "-m", "benchmarks.estimators", "--tiny", "--out",
                    str(tmp_path)], cwd=ROOT, check=True, capture_output=True, timeout=600)
    data = json.loads((tmp_path / "benchmarks_estimators.json").read_text())
    assert {"mode", "command", "config", "machine", "wall_s", "rows", "exponents",
            "pareto"} <= set(data)
    assert data["mode"] == "tiny" and data["partial"] is False
    for key in ("numpy", "scipy", "pot", "geomloss", "torch", "cpu", "cpu_count", "otgen"):
        assert key in data["machine"]
    methods = {r["method"] for r in data["rows"]}
    assert {"otgen auto", "otgen exact", "otgen sparse", "otgen sinkhorn", "otgen sliced",
            "ot.emd2", "ot.solve_sample", "geomloss tensorized", "scipy linear_sum_assignment",
            "ot.sliced_wasserstein_distance"} <= methods
    n_exact_checks = 0
    for r in data["rows"]:
        assert {"method", "n", "d", "status", "quantity", "truth", "truth_kind"} <= set(r)
        if r["status"] != "ok":
            assert r["status"].startswith(("skipped", "stopped"))
            continue
        assert r["time_s"] >= 0 and math.isfinite(r["value"])
        if r["truth_kind"] == "exact":
            t = r["truth"]
            if r["method"] in ("otgen exact", "ot.emd2", "scipy linear_sum_assignment",
                               "otgen auto"):  # auto is exact at these sizes
                assert abs(r["value"] - t) <= 1e-9 * t
            if r.get("lower") is not None:  # every certified interval contains the exact value
                assert r["lower"] - 1e-9 * t <= t <= r["upper"] + 1e-9 * t, r
                assert r["contains_truth"] is True
                n_exact_checks += 1
    assert n_exact_checks >= 10
    assert all(e["k"] is None or math.isfinite(e["k"]) for e in data["exponents"])
    md = (tmp_path / "benchmarks-estimators.md").read_text()
    assert "single-core" in md and "Fitted scaling exponents" in md and "Pareto" in md
    assert (tmp_path / "benchmarks-estimators.png").stat().st_size > 0
