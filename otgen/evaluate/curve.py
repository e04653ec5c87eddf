r"""The sample-size curve: how much of each number is finite-sample bias.

Every quantity :math:`v` is recomputed on random subsamples (without replacement, the same
size on both sides, seeded) of sizes n/8, n/4, n/2 (``repeats`` subsamples each) and taken at
n from the full evaluation.  The means are fitted by the power law

.. math:: v(s) \approx c + a\, (s / n)^{-b}, \qquad b \in [0.05, 2],

by weighted least squares: b on a grid, (c, a) linear for each b, weights
:math:`1/\mathrm{se}^2` (the standard error of each mean: the subsamples' spread over
:math:`\sqrt{\text{repeats}}`; at n, where there is one value, the spread at n/2 times
:math:`\sqrt{1/2}`, the CLT scaling).  ``a`` is then the fitted
finite-sample part of the value at n (``bias_at_n``) and ``c`` the extrapolation to an infinite
sample.  Plug-in W_p and the Fréchet distance converge from above at rates :math:`n^{-b}` that
depend on the (intrinsic) dimension (:math:`b = 2/d` for W_2^2 in d >= 5, b = 1 for the
Fréchet bias), so the exponent is fitted, not assumed.  With four sizes the fit has one degree
of freedom: read ``bias_at_n`` as an order of magnitude, and ``drift`` -- the plain change
v(n) - v(n/2) over the last doubling -- as the assumption-free statement: a drift comparable to
the value means the number is still dominated by the sample size; ``drift_se`` (the two
standard errors above, combined) says whether the drift is more than noise.  The unbiased MMD^2 and KID
have no drift in expectation: no power law is fitted to them, their curve only shows the noise.

References
----------
M. J. Chong, D. Forsyth. Effectively unbiased FID and Inception score and where to find them.
CVPR 2020 (FID is biased by ~ a/n; extrapolate to n = infinity).  J. Weed, F. Bach. Sharp
asymptotic and finite-sample rates of convergence of empirical measures in Wasserstein
distance. Bernoulli 25 (2019).
"""
from __future__ import annotations

import numpy as np

#: exponents b tried by the power-law fit
EXPONENTS = np.linspace(0.05, 2.0, 40)
#: fractions of n of the curve
FRACTIONS = (8, 4, 2, 1)


def curve_sizes(n: int, minimum: int) -> list:
    """The sizes n/8, n/4, n/2, n that are >= ``minimum`` (n itself always)."""
    return sorted({n // f for f in FRACTIONS if n // f >= minimum} | {n})


def fit_power_law(sizes, values, se=None):
    r"""Least-squares fit of :math:`v(s) = c + a (s / s_{max})^{-b}`, b on a grid in [0.05, 2].

    Weighted by :math:`1/\mathrm{se}^2` when every ``se`` is positive, else unweighted.
    Returns ``{"extrapolated": c, "bias_at_n": a, "exponent": b}`` (a is the fitted bias at the
    largest size), or None with fewer than 3 sizes or non-finite values.
    """
    s, v = np.asarray(sizes, np.float64), np.asarray(values, np.float64)
    if len(s) < 3 or not np.all(np.isfinite(v)):
        return None
    w = np.ones_like(s)
    if se is not None and np.all(np.asarray(se, np.float64) > 0):
        w = 1.0 / np.asarray(se, np.float64)
    best = None
    for b in EXPONENTS:
        A = np.stack([np.ones_like(s), (s / s.max()) ** -b], 1)
        coef = np.linalg.lstsq(A * w[:, None], v * w, rcond=None)[0]
        rss = float((((A @ coef - v) * w) ** 2).sum())
        if best is None or rss < best[0]:
            best = (rss, coef, b)
    _, (c, a), b = best
    return {"extrapolated": float(c), "bias_at_n": float(a), "exponent": float(b)}


def sample_size_curve(x, y, measure, full: dict, *, minimum: int, repeats: int,
                      rng: np.random.Generator, unbiased=()) -> dict:
    r"""Each quantity at n/8, n/4, n/2 and n, with the power-law fit and the last drift.

    Parameters
    ----------
    x, y : array (n, d)
        The real and fake features (equal sizes).
    measure : callable
        ``measure(xs, ys) -> {name: float}`` on a subsample pair.
    full : dict
        ``{name: float}``, the values at n (from the full evaluation).
    minimum : int
        Smallest size to include (the k-NN estimates need more than k + 1 points).
    repeats : int >= 1
        Subsamples per size below n.
    rng : numpy.random.Generator
        Source of the subsamples.
    unbiased : collection of str
        Names of unbiased estimators: no power law is fitted to them (``fit`` None).

    Returns
    -------
    dict
        ``{"sizes": [...], "repeats": r, "quantities": {name: {"mean": [...], "std": [...],
        "se": [...], "drift": v(n) - v(n/2), "drift_se": ..., "fit": {...} or None}}}``;
        ``std`` is the spread over the subsamples (0 at n: one sample), ``se`` the standard
        error of each mean.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(size=(64, 2)), rng.normal(size=(64, 2))
    >>> mean_gap = lambda a, b: {"gap": float(np.abs(a.mean(0) - b.mean(0)).sum())}
    >>> out = sample_size_curve(x, y, mean_gap, mean_gap(x, y), minimum=8, repeats=2, rng=rng)
    >>> out["sizes"], len(out["quantities"]["gap"]["mean"])
    ([8, 16, 32, 64], 4)

    References
    ----------
    M. J. Chong, D. Forsyth. Effectively unbiased FID and Inception score and where to find
    them. CVPR 2020.
    """
    n = len(x)
    sizes = curve_sizes(n, minimum)
    runs = {name: [] for name in full}
    for size in sizes[:-1]:
        vals = [measure(x[rng.choice(n, size, replace=False)], y[rng.choice(len(y), size,
                                                                            replace=False)])
                for _ in range(repeats)]
        for name in full:
            runs[name].append([v[name] for v in vals])
    out = {name: _summary(runs[name], value, sizes, name not in unbiased)
           for name, value in full.items()}
    return {"sizes": sizes, "repeats": repeats, "quantities": out}


def _summary(runs: list, value: float, sizes: list, fit: bool) -> dict:
    """Means, spreads, standard errors, drift and fit of one quantity along the curve."""
    mean = [float(np.mean(r)) for r in runs] + [float(value)]
    std = [float(np.std(r, ddof=1)) if len(r) > 1 else 0.0 for r in runs] + [0.0]
    se = [sd / np.sqrt(len(r)) for sd, r in zip(std, runs)]
    if runs:  # the single value at n: the spread at the next size, scaled like 1/sqrt(n)
        se.append(std[-2] * np.sqrt(sizes[-2] / sizes[-1]))
    else:
        se.append(0.0)
    last = len(sizes) > 1 and sizes[-2] == sizes[-1] // 2
    return {"mean": mean, "std": std, "se": [float(v) for v in se],
            "drift": mean[-1] - mean[-2] if last else None,
            "drift_se": float(np.hypot(se[-1], se[-2])) if last else None,
            "fit": fit_power_law(sizes, mean, se) if fit else None}
