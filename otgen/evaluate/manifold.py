r"""k-NN manifold estimates: precision / recall (Kynkäänniemi et al. 2019) and density /
coverage (Naeem et al. 2020).

Each real point :math:`x_i` gets the ball :math:`B(x_i, r_i)`, :math:`r_i` the distance to its
k-th nearest other real point; each fake point :math:`y_j` the ball :math:`B(y_j, s_j)` from
the fake sample.  With :math:`\mathbb 1` the indicator,

.. math::
    \mathrm{precision} = \frac1m \sum_j \mathbb 1\big[\exists i: y_j \in B(x_i, r_i)\big],
    \qquad
    \mathrm{recall} = \frac1n \sum_i \mathbb 1\big[\exists j: x_i \in B(y_j, s_j)\big],

.. math::
    \mathrm{density} = \frac{1}{k m} \sum_j \sum_i \mathbb 1\big[y_j \in B(x_i, r_i)\big],
    \qquad
    \mathrm{coverage} = \frac1n \sum_i \mathbb 1\big[\min_j \|x_i - y_j\| \le r_i\big].

Precision and density measure fidelity (fake samples on the real manifold; density is ~1, not
bounded by 1, when the two laws agree, and robust to real outliers), recall and coverage
diversity.  Distances are computed in row blocks: memory O(block + (n + m) k).

The standard errors are those of the averages *given the balls*:
:math:`\sqrt{\widehat{\mathrm{var}}(\text{indicator}) / \text{count}}`; the randomness of the
radii themselves is not included (the sample-size curve shows it).

References
----------
T. Kynkäänniemi, T. Karras, S. Laine, J. Lehtinen, T. Aila. Improved precision and recall
metric for assessing generative models. NeurIPS 2019.  M. F. Naeem, S. J. Oh, Y. Uh, Y. Choi,
J. Yoo. Reliable fidelity and diversity metrics for generative models. ICML 2020.
"""
from __future__ import annotations

import numpy as np

#: distance entries per row block
BLOCK_ENTRIES = 1 << 21


def _sq_norms(a):
    return (a * a).sum(1)


def _dist_blocks(a: np.ndarray, b: np.ndarray):
    """Yield ``(slice, D)`` with D the Euclidean distances of a row block of a to all of b."""
    na, nb = _sq_norms(a), _sq_norms(b)
    rows = max(1, BLOCK_ENTRIES // len(b))
    for start in range(0, len(a), rows):
        sl = slice(start, min(start + rows, len(a)))
        d2 = na[sl, None] + nb[None, :] - 2 * a[sl] @ b.T
        yield sl, np.sqrt(np.clip(d2, 0, None))


def knn_radii(a: np.ndarray, k: int) -> np.ndarray:
    """Distance of each point to its k-th nearest *other* point of the same sample.

    The point itself is the 0-th neighbour (as in the reference ``prdc`` code), so duplicates
    count as neighbours at distance 0.
    """
    r = np.empty(len(a))
    for sl, D in _dist_blocks(a, a):
        D[np.arange(sl.stop - sl.start), np.arange(sl.start, sl.stop)] = 0.0
        r[sl] = np.partition(D, k, axis=1)[:, k]
    return r


def _mean_se(values: np.ndarray):
    v = np.asarray(values, np.float64)
    se = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0
    return float(v.mean()), se


def prdc(x, y, k: int = 5) -> dict:
    r"""Precision, recall, density and coverage of a fake sample against a real one.

    Parameters
    ----------
    x : array (n, d)
        Real features, n > k.
    y : array (m, d)
        Fake features, m > k.
    k : int
        Neighbours defining the radii (5 as in both papers).

    Returns
    -------
    dict
        ``{"precision", "recall", "density", "coverage"}``, each ``(value, se)``: fractions
        in [0, 1] (density in [0, n/k]), dimensionless; ``se`` given the balls.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(300, 2))
    >>> out = prdc(x, x + 100.0)                       # disjoint supports
    >>> [out[key][0] for key in ("precision", "recall", "density", "coverage")]
    [0.0, 0.0, 0.0, 0.0]

    References
    ----------
    T. Kynkäänniemi et al. Improved precision and recall metric for assessing generative
    models. NeurIPS 2019.  M. F. Naeem et al. Reliable fidelity and diversity metrics for
    generative models. ICML 2020.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    center = np.concatenate([x, y]).mean(0)
    x, y = x - center, y - center
    r, s = knn_radii(x, k), knn_radii(y, k)
    inside = np.zeros(len(y))            # per fake point: number of real balls containing it
    recalled = np.zeros(len(x), bool)    # per real point: inside some fake ball
    nearest = np.full(len(x), np.inf)    # per real point: distance to the nearest fake point
    for sl, D in _dist_blocks(y, x):     # D[j, i] = |y_j - x_i|
        inside[sl] = (D <= r[None, :]).sum(1)
        recalled |= (D <= s[sl, None]).any(0)
        nearest = np.minimum(nearest, D.min(0))
    return {"precision": _mean_se(inside > 0), "recall": _mean_se(recalled),
            "density": _mean_se(inside / k), "coverage": _mean_se(nearest <= r)}
