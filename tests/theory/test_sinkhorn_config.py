"""SinkhornConfig / EpsSchedule: every setting reachable from ``wasserstein``, each bad value a
clear error, and the settings take effect (checked on what the solver reports)."""
import numpy as np
import pytest

from otgen.theory import EpsSchedule, SinkhornConfig, wasserstein

RNG = np.random.default_rng(0)
X, Y = RNG.normal(size=(60, 2)), RNG.normal(size=(70, 2)) + 1.0


def test_settings_take_effect():
    exact = wasserstein(X, Y, method="exact").value
    one_round = wasserstein(X, Y, method="sinkhorn", tol=1e-6,
                            sinkhorn=SinkhornConfig(schedule=EpsSchedule(max_refinements=0)))
    assert one_round.info["refinements"] == 1 and not one_round.converged
    assert one_round.lower <= exact <= one_round.upper
    plan_less = wasserstein(X, Y, method="sinkhorn", sinkhorn=SinkhornConfig(dense_plan_max=0))
    assert plan_less.plan is None and plan_less.lower <= exact <= plan_less.upper
    with pytest.warns(RuntimeWarning, match="max_iter=1"):
        capped = wasserstein(X, Y, method="sinkhorn", eps=0.01,
                             sinkhorn=SinkhornConfig(max_iter=1, scaling=0.9))
    assert capped.lower <= exact <= capped.upper


def test_shorthand_arguments_override_the_config():
    r = wasserstein(X, Y, method="sinkhorn", backend="blocks",
                    sinkhorn=SinkhornConfig(backend="dense"))
    assert r.info["backend"] == "blocks"


@pytest.mark.parametrize("config,exc,match", [
    (SinkhornConfig(scaling=1.0), ValueError, "scaling must be in"),
    (SinkhornConfig(marginal_tol=-1.0), ValueError, "marginal_tol"),
    (SinkhornConfig(max_iter=0), ValueError, "max_iter"),
    (SinkhornConfig(backend="gpu"), ValueError, "backend"),
    (SinkhornConfig(sweep_dtype="float16"), ValueError, "sweep_dtype"),
    (SinkhornConfig(schedule=EpsSchedule(aim=2.0)), ValueError, "aim"),
    (SinkhornConfig(schedule=EpsSchedule(min_shrink=0.6)), ValueError, "min_shrink"),
    (SinkhornConfig(schedule={"aim": 0.5}), TypeError, "EpsSchedule"),
    ({"scaling": 0.5}, TypeError, "SinkhornConfig"),
])
def test_bad_settings_are_named(config, exc, match):
    with pytest.raises(exc, match=match):
        wasserstein(X, Y, method="sinkhorn", sinkhorn=config)
