r"""Certified W_2^2 and W_1 between the two samples, and bootstrap intervals for the population.

Two different uncertainties, both reported:

* the **certified interval** ``[lower, upper]`` of :func:`otgen.theory.wasserstein` contains the
  exact OT cost :math:`W_p^p(P_n, Q_n)` between the two *empirical* measures (no statistics:
  only the solver's residual gap, requested at ``tol=0.01``);
* the **bootstrap interval** ``ci`` of :func:`otgen.theory.population_ci` (basic bootstrap,
  ``repeats`` resamples) is for the *population* :math:`W_p^p(P, Q)`; it is reported in the
  units of ``value`` (the distance interval raised to the power p).  It is not reliable when
  P = Q, where the plug-in's upward bias dominates (Sommerfeld & Munk 2018).

References
----------
G. Peyré, M. Cuturi. Computational Optimal Transport. Found. Trends ML, 2019.  B. Efron,
R. Tibshirani. An Introduction to the Bootstrap. 1993.  M. Sommerfeld, A. Munk. Inference for
empirical Wasserstein distances on finite spaces. JRSS-B 2018.
"""
from __future__ import annotations

import numpy as np

from ..theory import population_ci, wasserstein

#: relative width requested from the certified solver
TOL = 0.01


def certified_w(x, y, p: float, *, repeats: int, level: float, seed: int,
                n_jobs=None) -> tuple[dict, object]:
    r"""Certified :math:`W_p^p(P_n, Q_n)` and a bootstrap interval for :math:`W_p^p(P, Q)`.

    Parameters
    ----------
    x, y : array (n, d), (m, d)
        Real and fake features.
    p : {1, 2}
        Cost exponent of :math:`\|x - y\|^p`.
    repeats : int >= 2, or 0
        Bootstrap resamples; 0 skips the bootstrap (``ci`` is None).
    level : float in (0, 1)
        Confidence level of ``ci``.
    seed : int
        Seed of the resampling.
    n_jobs : int, optional
        joblib workers for the bootstrap replicates.

    Returns
    -------
    entry : dict
        ``value``, ``lower``, ``upper`` (certified, on the samples), ``ci`` ``[low, high]``
        (population, level ``level``), ``method``, ``converged``, ``repeats``; all in units of
        :math:`\|x\|^p`.
    result : OTResult
        The solver's result (its ``sparse_plan`` is the coupling behind ``upper``).

    Examples
    --------
    >>> x = np.zeros((20, 1)); y = np.ones((20, 1))
    >>> entry, _ = certified_w(x, y, 2, repeats=0, level=0.9, seed=0)
    >>> entry["value"], round(entry["lower"], 9), round(entry["upper"], 9), entry["ci"]
    (1.0, 1.0, 1.0, None)

    References
    ----------
    G. Peyré, M. Cuturi. Computational Optimal Transport, 2019.  E. del Barrio, J.-M. Loubes.
    Central limit theorems for empirical transportation cost in general dimension. Ann. Probab.
    2019.
    """
    res = wasserstein(x, y, p=p, tol=TOL)
    entry = {"value": float(res.value), "lower": float(res.lower), "upper": float(res.upper),
             "ci": None, "level": level, "method": res.method, "converged": bool(res.converged),
             "repeats": repeats}
    if repeats:
        ci = population_ci(x, y, repeats=repeats, level=level, p=p, seed=seed, n_jobs=n_jobs)
        entry["ci"] = [float(ci.low) ** p, float(ci.high) ** p]
    return entry, res


def longest_moves(result, x: np.ndarray, y: np.ndarray, count: int = 30):
    """The ``count`` pairs (i, j) of the plan with the longest moves |x_i - y_j|, longest first.

    Returns three arrays ``(i, j, length)``; empty when the result holds no coupling.
    """
    plan = getattr(result, "sparse_plan", None)
    if plan is None:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0)
    i, j = plan.rows[plan.mass > 0], plan.cols[plan.mass > 0]
    length = np.linalg.norm(x[i] - y[j], axis=1)
    top = np.argsort(-length)[:count]
    return i[top], j[top], length[top]
