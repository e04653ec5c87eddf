"""The command line: `otgen distance`, `otgen verify`, `otgen --help` (typer CliRunner)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from typer.testing import CliRunner

from otgen.cli import app

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})


def _invoke(*args):
    res = runner.invoke(app, [str(a) for a in args])
    # rich may draw boxes around errors: keep the words only
    text = re.sub(r"[\u2500-\u257f]", " ", res.output + (res.stderr or ""))
    return res, re.sub(r"\s+", " ", text)


def _assignment(x, y, p):
    C = np.linalg.norm(x[:, None] - y[None], axis=-1) ** p
    r, c = linear_sum_assignment(C)
    return C[r, c].mean()


@pytest.fixture
def clouds(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((30, 3)), rng.standard_normal((30, 3)) + 1.0
    np.save(tmp_path / "X.npy", x)
    np.save(tmp_path / "Y.npy", y)
    return tmp_path, x, y


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_distance_json(clouds, p):
    d, x, y = clouds
    res, text = _invoke("distance", d / "X.npy", d / "Y.npy", "--p", p, "--json")
    assert res.exit_code == 0, text
    out = json.loads(res.stdout)
    for key in ("value", "distance", "lower", "upper", "rel_gap", "method", "p", "converged",
                "n_iter", "eps", "time_s"):
        assert key in out, key
    truth = _assignment(x, y, p)
    assert out["value"] == pytest.approx(truth, rel=1e-8)
    assert out["distance"] == pytest.approx(truth ** (1 / p), rel=1e-8)
    assert out["lower"] <= truth * (1 + 1e-9) and out["upper"] >= truth * (1 - 1e-9)
    assert out["p"] == p and out["converged"] is True and out["method"] == "exact"
    assert out["time_s"] >= 0


def test_distance_text(clouds):
    d, x, y = clouds
    res, text = _invoke("distance", d / "X.npy", d / "Y.npy", "--method", "exact")
    assert res.exit_code == 0, text
    truth = _assignment(x, y, 2.0)
    m = re.search(r"W_p\^p\s+([0-9.eE+-]+)", res.stdout)
    assert m and float(m.group(1)) == pytest.approx(truth, rel=1e-7)
    for word in ("interval", "method", "exact", "converged=True", "time"):
        assert word in res.stdout


@pytest.mark.parametrize("method,extra", [("sinkhorn", ["--tol", "0.01"]),
                                          ("gaussian", []), ("sliced", [])])
def test_distance_other_methods_bracket_the_truth(clouds, method, extra):
    d, x, y = clouds
    res, text = _invoke("distance", d / "X.npy", d / "Y.npy", "--method", method, "--json",
                        *extra)
    assert res.exit_code == 0, text
    out = json.loads(res.stdout[res.stdout.index("{"):])
    truth = _assignment(x, y, 2.0)
    assert out["method"] == method
    assert out["lower"] <= truth * (1 + 1e-9) and out["upper"] >= truth * (1 - 1e-9)


def test_distance_verbose_reports_rounds_on_stderr(clouds):
    d, x, y = clouds
    args = ("distance", d / "X.npy", d / "Y.npy", "--method", "sinkhorn", "--tol", "0.01",
            "--json")
    res, text = _invoke(*args, "--verbose")
    assert res.exit_code == 0, text
    out = json.loads(res.stdout[res.stdout.index("{"):])  # stdout stays machine-readable
    rounds = re.findall(r"sinkhorn round \d+: .*certified \[([^,]+), ([^\]]+)\]", res.stderr)
    assert rounds and float(rounds[-1][0]) == pytest.approx(out["lower"], rel=1e-9)
    assert float(rounds[-1][1]) == pytest.approx(out["upper"], rel=1e-9)
    quiet, _ = _invoke(*args)
    assert "sinkhorn round" not in quiet.stderr + quiet.stdout


def test_distance_text_formats(tmp_path):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((12, 2)), rng.standard_normal((12, 2))
    np.savetxt(tmp_path / "x.csv", x, delimiter=",")
    np.savetxt(tmp_path / "y.txt", y)
    np.savez(tmp_path / "y.npz", pts=y)
    truth = _assignment(x, y, 2.0)
    for other in ("y.txt", "y.npz"):
        res, text = _invoke("distance", tmp_path / "x.csv", tmp_path / other, "--json")
        assert res.exit_code == 0, text
        assert json.loads(res.stdout)["value"] == pytest.approx(truth, rel=1e-8)


def test_distance_1d_column(tmp_path):
    rng = np.random.default_rng(2)
    u, v = rng.standard_normal((40, 1)), rng.standard_normal((25, 1))
    np.save(tmp_path / "u.npy", u)
    np.save(tmp_path / "v.npy", v)
    res, text = _invoke("distance", tmp_path / "u.npy", tmp_path / "v.npy", "--p", "1", "--json")
    assert res.exit_code == 0, text
    out = json.loads(res.stdout)
    su, sv = np.sort(u[:, 0]), np.sort(v[:, 0])
    truth = np.mean(np.abs(np.repeat(su, 25) - np.repeat(sv, 40)))
    assert out["method"] == "1d" and out["value"] == pytest.approx(truth, rel=1e-10)


def _write(path, arr):
    np.save(path, arr)
    return path


@pytest.mark.parametrize("make,pattern", [
    (lambda d: d / "missing.npy", r"X file .*missing\.npy does not exist"),
    (lambda d: (d / "junk.npy").write_bytes(b"not a numpy file") and d / "junk.npy",
     r"cannot read X file"),
    (lambda d: _write(d / "nan.npy", np.array([[0.0, np.nan]] * 3)),
     r"x contains 3 NaN or infinite"),
    (lambda d: _write(d / "flat.npy", np.zeros(5)), r"x must be a 2-D array"),
    (lambda d: _write(d / "dim.npy", np.zeros((4, 2))), r"dimension"),
    (lambda d: _write(d / "empty.npy", np.zeros((0, 3))), r"x is empty"),
    (lambda d: _write(d / "str.npy", np.array([["a", "b", "c"]])), r"x must hold real numbers"),
])
def test_distance_bad_files(clouds, make, pattern):
    d, _, _ = clouds
    bad = make(d)
    res, text = _invoke("distance", bad, d / "Y.npy")
    assert res.exit_code != 0
    assert re.search(pattern, text), text
    assert "Traceback" not in text


@pytest.mark.parametrize("args,pattern", [
    (["--method", "magic"], r"unknown method='magic'"),
    (["--p", "0"], r"p must be > 0"),
    (["--method", "exact", "--eps", "0.1"], r"eps is only used"),
    (["--tol", "2"], r"tol .*must be < 1"),
    (["--method", "1d"], r"method='1d' needs 1-D points"),
])
def test_distance_bad_options(clouds, args, pattern):
    d, _, _ = clouds
    res, text = _invoke("distance", d / "X.npy", d / "Y.npy", *args)
    assert res.exit_code == 2
    assert re.search(pattern, text), text


def test_help_is_self_explanatory():
    res, text = _invoke("--help")
    assert res.exit_code == 0
    for word in ("distance", "verify", "certified"):
        assert word in text
    res, text = _invoke("distance", "--help")
    assert res.exit_code == 0
    for word in ("--p", "--method", "--tol", "--eps", "--json", "auto", "exact", "sinkhorn"):
        assert word in text
    res, text = _invoke("verify", "--help")
    assert res.exit_code == 0 and "--json" in text


def test_no_arguments_shows_help():
    res, text = _invoke()
    assert "Usage" in text and "distance" in text


def test_verify_prints_pass_rows(tmp_path):
    """The main job: every claim on the embedded data, one PASS row each, exit status 0."""
    res, text = _invoke("verify", "--json", tmp_path / "v.json")
    assert res.exit_code == 0, text
    checks = json.loads((tmp_path / "v.json").read_text())["checks"]
    names = [c["name"] for c in checks]
    assert any(n.startswith("exact == assignment") for n in names)
    rows = [ln for ln in res.stdout.splitlines() if ln.startswith(tuple(names))]
    assert len(rows) == len(checks) == 20 and all(" PASS " in ln for ln in rows)
    assert "FAIL" not in res.stdout
    assert f"{len(checks)}/{len(checks)} claims verified" in res.stdout
    assert all(c["passed"] and c["max_error"] <= c["tolerance"] for c in checks)


def test_verify_exits_nonzero_on_a_failing_claim(monkeypatch):
    import otgen.verify.estimators  # noqa: F401  (register the real checks first)
    from otgen.verify import core

    def bad(seed=0):
        return core.make_check("zz deliberately false claim", [1.0], 1e-9)

    monkeypatch.setattr(core, "REGISTRY", core.REGISTRY + [("zz deliberately false claim",
                                                             bad)])
    res, text = _invoke("verify", "--only", "zz deliberately")
    assert res.exit_code == 1
    assert "FAIL" in res.stdout and "1 FAILED" in res.stdout


def test_version_flag_prints_the_package_version():
    import otgen
    res, text = _invoke("--version")
    assert res.exit_code == 0 and text.strip() == f"otgen {otgen.__version__}"
