"""Progress messages of long solves (``verbose=True`` / the "otgen" logger).

The messages must describe the solve that actually ran: one round line per eps (or
column-generation) round, the last one carrying the returned certified interval, and with the
sweep throttle off, one sweep line per Sinkhorn sweep counted in ``n_iter``.
"""
from __future__ import annotations

import logging
import re

import numpy as np
import pytest

from otgen.theory import progress, wasserstein

ROUND = re.compile(r"(sinkhorn|sparse) round (\d+): .*certified \[([^,]+), ([^\]]+)\]")


def _clouds(n=150, d=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 1.0


def _rounds(text, kind):
    return [(int(m[2]), float(m[3]), float(m[4])) for m in ROUND.finditer(text) if m[1] == kind]


def test_sinkhorn_verbose_reports_every_round_and_the_final_interval(capsys):
    x, y = _clouds()
    res = wasserstein(x, y, method="sinkhorn", tol=0.02, backend="blocks", verbose=True)
    err = capsys.readouterr().err
    rounds = _rounds(err, "sinkhorn")
    assert [r[0] for r in rounds] == list(range(1, res.info["refinements"] + 1))
    _, lo, up = rounds[-1]
    assert lo == pytest.approx(res.lower, rel=1e-9) and up == pytest.approx(res.upper, rel=1e-9)
    # the eps of each round is the one recorded in the result's history
    logged_eps = [float(e) for e in re.findall(r"sinkhorn round \d+: eps ([^,]+),", err)]
    assert logged_eps == pytest.approx([h[0] for h in res.info["eps_history"]], rel=1e-3)
    assert "sinkhorn: n=150, m=150, d=2" in err


def test_sparse_verbose_reports_rounds(capsys):
    x, y = _clouds(n=400, d=3, seed=1)
    res = wasserstein(x, y, method="sparse", tol=1e-3, verbose=True)
    err = capsys.readouterr().err
    assert "coarse-to-fine" in err
    # one line per column-generation round; the last one carries the returned interval
    rounds = _rounds(err, "sparse")
    assert [r[0] for r in rounds] == list(range(1, res.info["rounds"] + 1))
    assert rounds[-1][1] == res.lower and rounds[-1][2] == res.upper


def test_one_sweep_line_per_sweep_when_unthrottled(monkeypatch, capsys):
    monkeypatch.setattr(progress, "SWEEP_EVERY_S", 0.0)
    x, y = _clouds(n=80)
    # float64 sweeps only, so that every sweep of n_iter is one sinkhorn_potentials iteration
    res = wasserstein(x, y, method="sinkhorn", eps=0.05, backend="dense", verbose=True)
    err = capsys.readouterr().err
    sweeps = re.findall(r"(anneal sweep|  sweep) \d+", err)
    assert len(sweeps) == res.n_iter > 0
    assert "marginal error" in err


def test_silent_by_default_and_logger_restored(capsys):
    logger = logging.getLogger("otgen")
    handlers, level = list(logger.handlers), logger.level
    x, y = _clouds(n=60)
    wasserstein(x, y, method="sinkhorn", tol=0.05)
    assert capsys.readouterr().err == ""
    wasserstein(x, y, method="sinkhorn", tol=0.05, verbose=True)
    assert "sinkhorn round" in capsys.readouterr().err
    assert logger.handlers == handlers and logger.level == level


def test_messages_reach_a_user_configured_logger(caplog):
    caplog.set_level(logging.INFO, logger="otgen")
    x, y = _clouds(n=60)
    res = wasserstein(x, y, method="sinkhorn", tol=0.05)
    lines = [r.getMessage() for r in caplog.records if r.name == "otgen"]
    assert sum("sinkhorn round" in s for s in lines) == res.info["refinements"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(method="sinkhorn", eps=1e-3, max_iter=2), "did not converge"),
    (dict(method="exact", max_iter=3), "network simplex stopped"),
])
def test_solver_warnings_point_at_the_caller(kwargs, match):
    x, y = _clouds(n=60)
    with pytest.warns(RuntimeWarning, match=match) as rec:
        wasserstein(x, y, **kwargs)
    assert [w.filename for w in rec if match in str(w.message)][0] == __file__
