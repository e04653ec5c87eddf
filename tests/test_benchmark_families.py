"""benchmarks/families.py runs end to end (--tiny) and its data families are what they claim.

No timing is asserted; the checks are that every row is measured, that otgen's certified
interval contains an independent exact value (scipy's assignment on the same data), and that
every family draws deterministic, finite clouds of the requested shape.
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

from otgen.testing import FAMILIES, data_family

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("d", [2, 3, 64])
def test_families_are_deterministic_finite_and_distinct(family, d):
    x, y = data_family(family, 50, d, seed=3)
    assert x.shape == y.shape == (50, d)
    assert np.all(np.isfinite(x)) and np.all(np.isfinite(y))
    x2, y2 = data_family(family, 50, d, seed=3)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert not np.array_equal(x, data_family(family, 50, d, seed=4)[0])
    assert not np.allclose(x.mean(0), y.mean(0)) or not np.allclose(x.std(0), y.std(0))


def test_family_shapes():
    x, y = data_family("ring-square", 400, 2)
    r = np.linalg.norm(x, axis=1)
    assert abs(np.median(r) - 1) < 0.02 and np.all(np.abs(y) <= 1)
    x, _ = data_family("lognormal", 400, 2)
    assert np.all(x > 0)
    with pytest.raises(ValueError, match="unknown family"):
        data_family("nope", 10, 2)


def test_tiny_run_intervals_contain_the_assignment_value(tmp_path):
    subprocess.run([sys.executable, "-m", "benchmarks.families", "--tiny", "--out",
                    str(tmp_path)], check=True, cwd=ROOT, capture_output=True, timeout=600)
    for name in ("benchmarks_families.json", "benchmarks-families.md",
                 "benchmarks-families.png"):
        assert (tmp_path / name).stat().st_size > 0
    rows = json.loads((tmp_path / "benchmarks_families.json").read_text())["rows"]
    assert rows and all("skipped" not in r for r in rows)
    for r in rows:
        if r["solver"] != "otgen auto":
            continue
        x, y = data_family(r["family"], r["n"], r["d"])
        C = cdist(x, y, "sqeuclidean")
        i, j = linear_sum_assignment(C)
        truth = C[i, j].mean()
        assert r["lower"] <= truth * (1 + 1e-12) and truth <= r["upper"] * (1 + 1e-12)
        assert r["contains_emd2"]
