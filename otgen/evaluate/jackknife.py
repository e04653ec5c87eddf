r"""Delete-a-group jackknife: the standard errors of the Fréchet distance and the MMDs.

The sample pair is split into G groups (a seeded random permutation, the same group index on
both sides); :math:`\hat\theta_{(g)}` is the statistic recomputed without group g of the real
*and* of the fake sample, and

.. math:: \widehat{\mathrm{se}}^2 = \frac{G - 1}{G} \sum_{g=1}^{G}
          \big(\hat\theta_{(g)} - \bar\theta\big)^2, \qquad
          \bar\theta = \frac1G \sum_g \hat\theta_{(g)}.

For U-statistics such as the unbiased MMD^2 it is consistent (Arvesen 1969); the groups keep
the cost at G recomputations, and for the MMDs those come free from the kernel's G x G block
sums.

References
----------
J. Shao, D. Tu. The Jackknife and Bootstrap. Springer 1995, Sec. 2.3 (delete-d / grouped
jackknife).  J. N. Arvesen. Jackknifing U-statistics. Ann. Math. Statist. 40 (1969).
"""
from __future__ import annotations

import numpy as np

#: groups of the delete-a-group jackknife
GROUPS = 10


def group_labels(n: int, rng: np.random.Generator, groups: int = GROUPS) -> np.ndarray:
    """Group index in ``0 .. groups - 1`` of each of ``n`` rows (balanced, random order)."""
    return rng.permutation(n) % min(groups, n)


def jackknife_se(leave_out) -> float:
    """The grouped jackknife standard error from the leave-one-group-out values."""
    v = np.asarray(leave_out, np.float64)
    g = len(v)
    return float(np.sqrt((g - 1) / g * np.sum((v - v.mean()) ** 2)))
