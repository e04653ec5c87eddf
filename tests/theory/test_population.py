"""wasserstein_many and the bootstrap CI for the population W_p (coverage on Gaussians)."""
import numpy as np
import pytest

from otgen.theory import population_ci, wasserstein, wasserstein_many


def test_wasserstein_many_matches_single_calls_in_order():
    rng = np.random.default_rng(0)
    pairs = [(rng.normal(size=(20, 2)), rng.normal(size=(25, 2)) + k) for k in range(4)]
    single = [wasserstein(x, y, p=2).value for x, y in pairs]
    for n_jobs in (1, 2):
        many = wasserstein_many(pairs, n_jobs=n_jobs, p=2)
        assert [r.value for r in many] == pytest.approx(single, rel=1e-12)
    with pytest.raises(ValueError, match=r"pairs\[0\]"):
        wasserstein_many([np.zeros((3, 2))])


def test_population_ci_covers_closed_form_truth():
    # P = N(0, I), Q = N(t, diag(s^2)): W_2 = sqrt(|t|^2 + sum (1 - s)^2) (Gaussian closed form)
    t, s = np.array([1.0, 0.5]), np.array([1.0, 1.5])
    truth = np.sqrt((t ** 2).sum() + ((1 - s) ** 2).sum())
    hits, R = 0, 20
    for rep in range(R):
        rng = np.random.default_rng(rep)
        x = rng.standard_normal((150, 2))
        y = rng.standard_normal((150, 2)) * s + t
        ci = population_ci(x, y, repeats=60, level=0.9, seed=rep)
        assert ci.low <= ci.estimate <= ci.high or ci.low == 0.0
        hits += ci.low <= truth <= ci.high
    # nominal 90%: P(hits <= 13 | 20 trials, coverage 0.9) < 0.3%; a biased interval
    # (e.g. percentile instead of basic bootstrap, or no bootstrap at all) fails this
    assert hits >= 14, hits


def test_population_ci_bad_input():
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match="level"):
        population_ci(x, x, level=1.5)
    with pytest.raises(ValueError, match="sample_q"):
        population_ci(x, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="repeats"):
        population_ci(x, x, repeats=1)


def _pairs():
    rng = np.random.default_rng(3)
    pairs = [(rng.normal(size=(15, 2)), rng.normal(size=(12, 2)) + k) for k in range(3)]
    return pairs + [(rng.normal(size=(6, 1)), rng.normal(size=(5, 1)), np.full(6, 1 / 6),
                     np.full(5, 1 / 5))]


def test_wasserstein_many_follows_the_joblib_backend_of_the_caller():
    """The same values (bit for bit) in this process, under a threading backend chosen by an
    enclosing parallel_config, and in processes; bad n_jobs is refused by name."""
    import joblib
    serial = [r.value for r in wasserstein_many(_pairs(), p=2)]
    with joblib.parallel_config("threading", n_jobs=2):
        threaded = [r.value for r in wasserstein_many(_pairs(), p=2)]
    assert threaded == serial
    with pytest.raises(ValueError, match="n_jobs"):
        wasserstein_many(_pairs(), n_jobs=0)
    with pytest.raises(ValueError, match="n_jobs"):
        wasserstein_many(_pairs(), n_jobs=-7)


def test_wasserstein_many_on_a_dask_cluster():
    """Two Dask workers (a LocalCluster, processes) give the serial results, in order."""
    import joblib
    distributed = pytest.importorskip("distributed")
    serial = [(r.value, r.lower, r.upper) for r in wasserstein_many(_pairs(), p=1)]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster), joblib.parallel_config("dask"):
        remote = [(r.value, r.lower, r.upper) for r in wasserstein_many(_pairs(), p=1)]
    assert remote == serial
