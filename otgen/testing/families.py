r"""Data families beyond the Gaussian, for benchmarks and property tests of OT estimators.

An estimator tuned on Gaussian clouds can be slow or loose elsewhere; :func:`data_family` draws
the shapes otgen's benchmarks and tests use (``benchmarks/families.py``,
``tests/theory/test_coarse_to_fine.py``), all as two clouds x, y of n points in R^d:

* ``gaussian``: N(0, I) against N(1, I);
* ``student-t3``: Student-t(3) against the same shifted by 1 (heavy tails, outliers);
* ``clusters``: 12 tight clusters (std 0.1, centres ~ N(0, 100 I)) with independently drawn
  labels: most mass stays, some must cross between far clusters;
* ``ring-square``: a noisy unit sphere (a ring in d = 2) against the uniform cube [-1, 1]^d;
* ``lognormal``: exp(N(0, I)) against 1.5 exp(N(0, I)) (skewed, heavy right tail);
* ``digits``: scikit-learn's 8 x 8 digits (d = 64 pixels; PCA coordinates for d < 64), digits
  0-4 against 5-9, resampled to n points with a jitter of 2% of the pixel spread.

Draws are deterministic in ``(seed, n, d, family)``.
"""
from __future__ import annotations

import numpy as np

FAMILIES = ("gaussian", "student-t3", "clusters", "ring-square", "lognormal", "digits")


def _digits(n, d, rng):
    from sklearn.datasets import load_digits

    X, label = load_digits(return_X_y=True)
    X = X.astype(np.float64)
    if d < X.shape[1]:
        Xc = X - X.mean(0)
        _, _, Vt = np.linalg.svd(Xc, full_matrices=False)
        X = Xc @ Vt[:d].T
    elif d > X.shape[1]:
        raise ValueError("the digits family has at most 64 dimensions")
    jitter = 0.02 * X.std()
    out = []
    for keep in (label < 5, label >= 5):
        pool = X[keep]
        out.append(pool[rng.integers(0, len(pool), n)] + jitter * rng.normal(size=(n, d)))
    return out[0], out[1]


def data_family(family: str, n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two clouds of ``n`` points in R^d from a named data family (see the module docstring).

    Parameters
    ----------
    family : str
        One of :data:`FAMILIES`: ``"gaussian"``, ``"student-t3"``, ``"clusters"``,
        ``"ring-square"``, ``"lognormal"``, ``"digits"`` (d <= 64).
    n : int
        Points per cloud.
    d : int
        Dimension.
    seed : int
        Seed; the draw is deterministic in ``(seed, n, d, family)``.

    Returns
    -------
    x, y : ndarray (n, d)
        The two clouds (uniform weights are implied).

    Examples
    --------
    >>> x, y = data_family("student-t3", 100, 2, seed=0)
    >>> x.shape, y.shape
    ((100, 2), (100, 2))

    References
    ----------
    B. Schmitzer. A sparse multiscale algorithm for dense optimal transport. JMIV 2016 (test
    shapes off the Gaussian).  E. Alpaydin, C. Kaynak. Optical Recognition of Handwritten
    Digits, UCI 1998 (scikit-learn's digits).
    """
    if family not in FAMILIES:
        raise ValueError(f"family: unknown family {family!r}; expected one of {FAMILIES}")
    rng = np.random.default_rng([seed, n, d, FAMILIES.index(family)])
    if family == "gaussian":
        return rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 1.0
    if family == "student-t3":
        return rng.standard_t(3, size=(n, d)), rng.standard_t(3, size=(n, d)) + 1.0
    if family == "clusters":
        centres = 10.0 * rng.normal(size=(12, d))
        return tuple(centres[rng.integers(0, 12, n)] + 0.1 * rng.normal(size=(n, d))
                     for _ in range(2))
    if family == "ring-square":
        z = rng.normal(size=(n, d))
        z *= ((1.0 + 0.05 * rng.normal(size=n)) / np.linalg.norm(z, axis=1))[:, None]
        return z, rng.uniform(-1.0, 1.0, size=(n, d))
    if family == "lognormal":
        return np.exp(rng.normal(size=(n, d))), 1.5 * np.exp(rng.normal(size=(n, d)))
    return _digits(n, d, rng)
