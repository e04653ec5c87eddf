r"""Exactly feasible couplings: integer masses and exact flows on a plan's support.

A float plan from a solver has marginals equal to (a, b) only up to rounding, and an upper bound
``<P, C>`` of a plan that is not exactly feasible is not a certificate: far-apart clusters turn a
1e-17 marginal error into an error of 1e-17 x (distance)^p.  This module makes plans exactly
feasible instead:

* :class:`ExactMasses` writes the weights as integers in a common unit, with ``b`` read as
  :math:`\tilde b = b \sum a / \sum b` (so the two totals agree exactly);
* :func:`exact_flows` recomputes the masses of a basic plan (its support is a forest, at most
  n + m - 1 edges) by peeling leaves in exact integer arithmetic: the unique flows with the exact
  marginals on that support;
* when the support is not a forest, a tree component is unbalanced or a flow comes out negative
  (a near-degenerate basis), :func:`repair_flows` clips, removes excess mass exactly, and reports
  the residual deficits, which :mod:`otgen.theory.certify` transports at a bounded cost.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, connected_components


def _integer_mantissas(w: np.ndarray) -> tuple[list[int], int]:
    """Integers W_i and exponent e with w_i = W_i 2^e exactly (w >= 0, finite)."""
    mant, expo = np.frexp(w)
    ints = (mant * 2.0 ** 53).astype(np.int64)  # exact: |mant| < 1
    pos = w > 0
    if not pos.any():
        return [0] * len(w), 0
    e0 = int((expo[pos] - 53).min())
    shifts = (expo - 53 - e0).astype(np.int64)
    return [int(i) << int(s) if i else 0 for i, s in zip(ints.tolist(), shifts.tolist())], e0


@dataclass
class ExactMasses:
    r"""Weights as exact integers: :math:`a_i = A_i\, q`, :math:`\tilde b_j = B_j\, q` with the
    common real unit :math:`q = 2^{e_a} / \sum_j B^{(0)}_j` (``unit_num`` / ``unit_den``)."""

    A: list
    B: list
    exp_a: int
    den: int  # sum of the integer mantissas of b (exact), the unit's denominator

    @classmethod
    def from_weights(cls, a: np.ndarray, b: np.ndarray) -> "ExactMasses":
        A0, ea = _integer_mantissas(np.asarray(a, np.float64))
        B0, _ = _integer_mantissas(np.asarray(b, np.float64))
        SA, SB = sum(A0), sum(B0)
        # a_i sum(b) = A0_i SB 2^(ea+eb) and b_j sum(a) = B0_j SA 2^(ea+eb): divide by sum(b)
        return cls([x * SB for x in A0], [y * SA for y in B0], ea, SB)

    def to_float(self, ints) -> np.ndarray:
        """Correctly rounded floats of integer masses (Python's int / int true division is
        correctly rounded, also for big integers and subnormal results)."""
        e = self.exp_a
        den = self.den << -e if e < 0 else self.den
        sh = e if e > 0 else 0
        return np.fromiter(((i << sh) / den if i else 0.0 for i in ints), dtype=np.float64,
                           count=len(ints))

    def to_units(self, v) -> list:
        """floor(v / q) for float masses v >= 0 (exact integer arithmetic)."""
        mant, ex = np.frexp(np.maximum(np.asarray(v, np.float64), 0.0))
        ints = (mant * 2.0 ** 53).astype(np.int64).tolist()
        shifts = (ex.astype(np.int64) - 53 - self.exp_a).tolist()
        den = self.den
        return [(((M * den) << s) if s >= 0 else ((M * den) >> -s)) if M else 0
                for M, s in zip(ints, shifts)]


def exact_flows(i: np.ndarray, j: np.ndarray, masses: ExactMasses):
    """Exact integer flows on the support edges (i_e, j_e) when they form a forest whose trees
    are balanced and the flows are nonnegative; else None.

    Leaves are peeled in reverse breadth-first order: the flow on the edge from a node to its
    parent is the net supply of the node's subtree.
    """
    n, m = len(masses.A), len(masses.B)
    nodes = n + m
    E = len(i)
    if E == 0:
        return None
    rows = np.asarray(i, np.int64)
    cols = np.asarray(j, np.int64) + n
    G = sp.coo_array((np.ones(E), (rows, cols)), shape=(nodes, nodes)).tocsr()
    G = G + G.T
    ncomp, labels = connected_components(G, directed=False)
    if E != nodes - ncomp or G.nnz != 2 * E:  # a cycle or a repeated edge: not a forest
        return None
    # a virtual root linked to one node of each component: one BFS orders every tree
    first = np.full(ncomp, -1)
    first[labels[::-1]] = np.arange(nodes)[::-1]
    V = nodes
    R = sp.coo_array((np.ones(ncomp), (np.full(ncomp, V), first)), shape=(V + 1, V + 1))
    H = sp.block_diag([G, sp.csr_array((1, 1))], format="csr") + R + R.T
    order, pred = breadth_first_order(H, V, directed=False, return_predecessors=True)
    supply = masses.A + [-y for y in masses.B]
    sub = list(supply)
    flow_to_parent = {}
    pred_l = pred.tolist()
    for node in reversed(order[1:].tolist()):
        par = pred_l[node]
        if par == V:
            if sub[node] != 0:
                return None  # an unbalanced tree: no exact flow on this support
            continue
        sub[par] += sub[node]
        f = sub[node] if node < n else -sub[node]
        if f < 0:
            return None
        flow_to_parent[node] = f
    # flow of edge e: the child's entry (one endpoint of every tree edge is the other's parent)
    out = []
    for r, c in zip(rows.tolist(), cols.tolist()):
        out.append(flow_to_parent[r] if pred_l[r] == c else flow_to_parent[c])
    return out


def repair_flows(i: np.ndarray, j: np.ndarray, approx_mass: np.ndarray, masses: ExactMasses):
    """Exactly feasible sub-coupling from an approximate plan, plus the deficits.

    Returns ``(F, er, ec)``: integer flows F >= 0 on the edges with row sums <= A and column sums
    <= B, and the integer deficits ``er = A - F 1 >= 0``, ``ec = B - F^T 1 >= 0`` (equal totals).
    Masses are first rounded to integers in the common unit, then the excess of every row and
    column is removed from its largest entries, exactly.
    """
    n, m = len(masses.A), len(masses.B)
    F = masses.to_units(approx_mass)
    for side, idx, target in ((0, np.asarray(i), masses.A), (1, np.asarray(j), masses.B)):
        sums = [0] * (n if side == 0 else m)
        members: dict[int, list[int]] = {}
        for e, k in enumerate(idx.tolist()):
            sums[k] += F[e]
            members.setdefault(k, []).append(e)
        for k, s in enumerate(sums):
            excess = s - target[k]
            if excess <= 0:
                continue
            for e in sorted(members[k], key=lambda e: -F[e]):
                take = min(F[e], excess)
                F[e] -= take
                excess -= take
                if excess == 0:
                    break
    rs = [0] * n
    cs = [0] * m
    for e, (r, c) in enumerate(zip(np.asarray(i).tolist(), np.asarray(j).tolist())):
        rs[r] += F[e]
        cs[c] += F[e]
    er = [t - s for t, s in zip(masses.A, rs)]
    ec = [t - s for t, s in zip(masses.B, cs)]
    return F, er, ec


def exact_northwest(order_a: np.ndarray, order_b: np.ndarray, masses: ExactMasses):
    """The north-west corner (monotone) coupling of the rows taken in ``order_a`` and the
    columns in ``order_b``, in exact integer masses: ``(i, j, F)``, at most n + m - 1 pairs.

    For any two orders it is a coupling of (a, b~) with exactly these marginals; for the sorted
    orders of 1-D points it is the optimal coupling for every convex cost of x - y.
    """
    A = [masses.A[k] for k in np.asarray(order_a).tolist()]
    B = [masses.B[k] for k in np.asarray(order_b).tolist()]
    oa, ob = np.asarray(order_a).tolist(), np.asarray(order_b).tolist()
    i_out, j_out, f_out = [], [], []
    r = c = 0
    ra, rb = A[0], B[0]
    n, m = len(A), len(B)
    while r < n and c < m:
        t = min(ra, rb)
        if t > 0:
            i_out.append(oa[r])
            j_out.append(ob[c])
            f_out.append(t)
        ra -= t
        rb -= t
        if ra == 0:
            r += 1
            ra = A[r] if r < n else 0
        if rb == 0:
            c += 1
            rb = B[c] if c < m else 0
    return np.asarray(i_out, np.int64), np.asarray(j_out, np.int64), f_out
