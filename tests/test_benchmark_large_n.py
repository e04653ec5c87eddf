"""benchmarks/large_n.py runs end to end (--tiny) and writes its JSON, markdown and PNG.

No timings or memory figures are asserted (those are the benchmark's output, not its
correctness); the checks are that every row is measured or says why it was skipped, that otgen's
certified intervals contain an independent exact value (scipy's assignment solver), and that the
exponent fit recovers known slopes.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # benchmarks/ is a top-level folder, not part of the package
    sys.path.insert(0, str(ROOT))

from benchmarks.large_n import CONFIGS, clouds, fit_exponent  # noqa: E402


def test_fit_exponent_recovers_power_laws():
    ns = [1e3, 1e4, 1e5]
    assert abs(fit_exponent([(n, 3 * n ** 1.5) for n in ns]) - 1.5) < 1e-12
    assert abs(fit_exponent([(n, 7 * n) for n in ns]) - 1.0) < 1e-12
    assert fit_exponent([(1e3, 1.0)]) is None


def test_tiny_run_writes_files_and_intervals_contain_the_assignment_value(tmp_path):
    subprocess.run([sys.executable, "-m", "benchmarks.large_n", "--tiny", "--out",
                    str(tmp_path)], check=True, cwd=ROOT, capture_output=True, timeout=600)
    for name in ("benchmarks_large_n.json", "benchmarks-large-n.md", "benchmarks-large-n.png"):
        assert (tmp_path / name).stat().st_size > 0
    data = json.loads((tmp_path / "benchmarks_large_n.json").read_text())
    assert {"mode", "wall_s", "machine", "rows"} <= set(data)
    assert {"torch", "pot", "geomloss", "otgen", "cpu_count"} <= set(data["machine"])
    # one bounded-work row (explicit eps, 3 sweeps): still a certified interval
    subprocess.run([sys.executable, "-m", "benchmarks.large_n", "--out", str(tmp_path),
                    "--add-row", json.dumps(dict(solver="otgen-sinkhorn", n=200, d=3, eps=0.5,
                                                 max_iter=3, device="cpu"))],
                   check=True, cwd=ROOT, capture_output=True, timeout=600)
    data = json.loads((tmp_path / "benchmarks_large_n.json").read_text())
    added = data["rows"].pop()
    assert added["added"] and added["max_iter"] == 3 and "max_iter=3, device=cpu" in (
        tmp_path / "benchmarks-large-n.md").read_text()
    data["rows"].append(added)  # checked with the others below
    cfg = CONFIGS["tiny"]
    assert len(data["rows"]) == len(cfg["sizes"]) * len(cfg["dims"]) * len(cfg["solvers"]) + 1
    certified = 0
    for row in data["rows"]:
        if "skipped" in row:
            assert row["skipped"]
            continue
        assert row["time_s"] > 0 and row["peak_mb"] > 0 and row["extra_mb"] >= 0
        if "lower" in row:
            x, y = clouds(row["n"], row["d"])
            C = cdist(x, y, "sqeuclidean")
            i, j = linear_sum_assignment(C)
            truth = C[i, j].mean()  # uniform equal-size clouds: OT = optimal assignment
            assert row["lower"] - 1e-9 * truth <= truth <= row["upper"] + 1e-9 * truth
            certified += 1
    assert certified >= 3
    assert "Fitted exponents" in (tmp_path / "benchmarks-large-n.md").read_text()


def test_table_lists_ladders_in_order_and_drops_superseded_skips():
    from benchmarks.large_n import _table_order

    rows = [dict(solver="otgen-sparse", n=100, d=2, time_s=1.0),
            dict(solver="otgen-sinkhorn", n=200, d=2, skipped="predicted too slow"),
            dict(solver="otgen-sinkhorn", n=100, d=2, time_s=1.0),
            dict(solver="otgen-sinkhorn", n=200, d=2, eps=1.0, time_s=5.0, added=True),
            dict(solver="otgen-sinkhorn", n=300, d=2, skipped="predicted too slow"),
            dict(solver="otgen-sinkhorn", n=300, d=2, time_s=9.0, added=True)]
    got = [(r["solver"], r["n"], "skipped" in r, "eps" in r) for r in _table_order(rows)]
    assert got == [("otgen-sinkhorn", 100, False, False),
                   ("otgen-sinkhorn", 200, True, False),   # no measured ladder point: kept
                   ("otgen-sinkhorn", 300, False, False),  # the measured row replaces its skip
                   ("otgen-sinkhorn", 200, False, True),   # bounded-work rows after the ladder
                   ("otgen-sparse", 100, False, False)]


def test_a_remeasured_ladder_point_keeps_only_its_latest_row():
    from benchmarks.large_n import _table_order, exponents

    rows = [dict(solver="otgen-sinkhorn", n=100, d=2, time_s=4.0, extra_mb=1.0),
            dict(solver="otgen-sinkhorn", n=200, d=2, time_s=16.0, extra_mb=1.0),
            dict(solver="otgen-sinkhorn", n=100, d=2, time_s=1.0, extra_mb=1.0, added=True),
            dict(solver="otgen-sinkhorn", n=200, d=2, time_s=8.0, extra_mb=1.0, added=True)]
    got = [r["time_s"] for r in _table_order(rows)]
    assert got == [1.0, 8.0]
    # the exponent is fitted on the latest rows only: 1 s -> 8 s over a doubling is n^3
    assert exponents(rows)[("otgen-sinkhorn", 2)][0] == pytest.approx(3.0)


def test_worker_progress_goes_to_the_log_and_failures_carry_it():
    from benchmarks import large_n

    row = large_n._measure(dict(solver="otgen-sinkhorn", n=150, d=2))
    text = large_n.PROGRESS_LOG.read_text()
    rounds = [line for line in text.splitlines() if "sinkhorn round" in line]
    assert rounds and f"{row['lower']:.10g}" in rounds[-1] and f"{row['upper']:.10g}" in rounds[-1]
    with pytest.raises(subprocess.CalledProcessError) as info:
        large_n._measure(dict(solver="otgen-nonsense", n=20, d=2))
    assert "method" in info.value.stderr and "nonsense" in info.value.stderr


def test_add_row_reports_the_same_wall_time_in_json_and_markdown(tmp_path, monkeypatch):
    import re
    import shutil

    from benchmarks import large_n

    shutil.copy(ROOT / "docs" / "benchmarks_large_n.json", tmp_path)
    before = json.loads((tmp_path / "benchmarks_large_n.json").read_text())
    row = dict(next(r for r in before["rows"] if "lower" in r))
    calls = []  # the measurement "takes" 50 min: first reading 0 s, every later one 3000 s

    def clock():
        calls.append(1)
        return 0.0 if len(calls) == 1 else 3000.0

    monkeypatch.setattr(large_n.time, "perf_counter", clock)
    monkeypatch.setattr(large_n, "_measure", lambda spec: dict(row))
    large_n.main(["--out", str(tmp_path), "--add-row", json.dumps({"solver": row["solver"]})])
    after = json.loads((tmp_path / "benchmarks_large_n.json").read_text())
    assert after["wall_s"] == pytest.approx(before["wall_s"] + 3000.0)
    md = (tmp_path / "benchmarks-large-n.md").read_text()
    shown = float(re.search(r"wall time ([0-9.]+) min", md).group(1))
    assert shown == pytest.approx(after["wall_s"] / 60, abs=0.051)
