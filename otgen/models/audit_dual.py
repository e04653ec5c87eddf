r"""Audit section 4, the dual (Kantorovich-Rubinstein / WGAN): a critic f turned into certified
lower bounds on the exact :math:`W_1(\hat P_X, \hat P_G)`.

With :math:`L = \max_{u \ne v} |f(u) - f(v)| / \|u - v\|` over all sample points,
:math:`(\frac1n\sum f(x_i) - \frac1m\sum f(y_j)) / L` is the value of a feasible dual pair;
the cross constant :math:`L_\times = \max_{ij} (f(x_i) - f(y_j)) / \|x_i - y_j\|` gives a
tighter valid bound, and completing :math:`f / L_\times` by its c-transform a tighter one still
(:func:`ctransform_bound`, certified by :mod:`otgen.theory.ctransform`).

References
----------
M. Arjovsky, S. Chintala, L. Bottou. Wasserstein GAN. ICML 2017.  I. Gulrajani et al. Improved
training of Wasserstein GANs. NeurIPS 2017.  G. Peyré, M. Cuturi. Computational Optimal
Transport, 2019 (c-transforms, Section 5.3).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..theory.ctransform import lower_bound_from_potential
from .audit_common import exact_ot, hidden_widths, inequality, to_numpy
from .networks import Critic
from .penalties import gradient_penalty

if TYPE_CHECKING:  # the audit's prior section; audit.py imports this module
    from .audit import PriorSection


def lipschitz_constants(fx: np.ndarray, fy: np.ndarray, x: np.ndarray, y: np.ndarray):
    r"""Empirical Lipschitz constants of a function known at points x (values fx) and y (fy).

    Returns ``(L_all, L_cross)``: :math:`\max |f(u)-f(v)|/\|u-v\|` over all distinct pairs of
    the union, and :math:`\max_{ij} (f(x_i) - f(y_j))/\|x_i - y_j\|` (signed, cross pairs),
    with coincident points skipped.
    """
    from scipy.spatial.distance import cdist

    u = np.concatenate([x, y]).astype(np.float64)
    fu = np.concatenate([fx, fy]).astype(np.float64)
    dist = cdist(u, u)
    diff = fu[:, None] - fu[None, :]
    mask = dist > 1e-12
    l_all = float(np.max(np.abs(diff[mask]) / dist[mask])) if mask.any() else 0.0
    n = len(x)
    dc, fc, mc = dist[:n, n:], diff[:n, n:], mask[:n, n:]
    l_cross = float(np.max(fc[mc] / dc[mc])) if mc.any() else 0.0
    return l_all, l_cross


def ctransform_bound(phi: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    r"""Certified dual value of :math:`(\varphi, \varphi^c)`, :math:`\varphi^c_j = \min_i
    (\|x_i - y_j\| - \varphi_i)`: a feasible pair for the W_1 LP between the uniform
    measures on x and y, hence a lower bound on their exact W_1 (rounded down on the exact
    inputs: :func:`otgen.theory.ctransform.lower_bound_from_potential`).

    With :math:`\varphi = f / L_\times` it is >= :math:`(\bar f_X - \bar f_Y) / L_\times`
    (the c-transform is the largest feasible partner of :math:`\varphi`), up to rounding."""
    return lower_bound_from_potential(phi, x, y, p=1.0)


def train_critic(x: torch.Tensor, y: torch.Tensor, *, hidden=(256, 256), steps: int = 1000,
                 lr: float = 1e-3, gp_weight: float = 10.0, seed: int = 0, init=None,
                 batch_size: int = 512) -> Critic:
    r"""Fit a WGAN-GP critic on fixed samples: maximize :math:`\mathbb{E}f(x) - \mathbb{E}f(y)
    - \rho\,\mathrm{GP}` with Adam (betas 0.5, 0.9).  ``init``: a critic to start from (copied)."""
    torch.manual_seed(seed)
    f = copy.deepcopy(init) if init is not None else Critic(x.shape[1], hidden=hidden)
    f.train()
    opt = torch.optim.Adam(f.parameters(), lr=lr, betas=(0.5, 0.9))
    g = torch.Generator().manual_seed(seed)
    n, m = len(x), len(y)
    b = min(batch_size, n, m)
    for _ in range(steps):
        xb = x[torch.randint(n, (b,), generator=g)]
        yb = y[torch.randint(m, (b,), generator=g)]
        loss = f(yb).mean() - f(xb).mean() + gp_weight * gradient_penalty(f, xb, yb, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    f.eval()
    return f


@dataclass
class DualSection:
    """4. Dual: critic bounds against the exact W_1 and its Kantorovich potential.

    Attributes
    ----------
    dual : dict
        ``w1_exact`` / ``w1_lower`` / ``w1_upper`` and one entry per critic (value,
        Lipschitz constants, the three lower bounds and their ratios to W_1).
    checks : dict
        ``w1_ge_<critic>_bound``, ``..._bound_cross``, ``..._bound_ctransform``.
    arrays : dict
        ``<critic>_fx``, ``<critic>_fy`` and the exact potentials ``potential_x``,
        ``potential_y``.
    critics : dict
        name -> the critic (``model_critic``, ``audit_critic``).
    """

    dual: dict
    checks: dict
    arrays: dict
    critics: dict


def dual_section(model, x, prior: PriorSection, *, critic_steps=1000, seed=0) -> DualSection:
    """The model's own critic (if any) and a fresh one trained here with the gradient penalty
    (``critic_steps`` > 0, or no critic of its own), each turned into feasible dual values."""
    critics = {}
    if model.critic is not None:
        critics["model_critic"] = model.critic
    if critic_steps > 0 or model.critic is None:
        # a fresh critic: warm-starting from the model's (trained against a moving generator)
        # measured worse on 2-D data (bound 0.72 vs 0.87 of W_1 after 2,000 steps)
        critics["audit_critic"] = train_critic(x, prior.y_tensor, hidden=hidden_widths(model),
                                               steps=critic_steps, seed=seed)
    xn = to_numpy(x)
    w1 = exact_ot(xn, prior.y, 1)
    out = DualSection({"w1_exact": w1.value, "w1_lower": w1.lower, "w1_upper": w1.upper}, {},
                      {}, critics)
    for name, f in critics.items():
        with torch.no_grad():
            fx, fy = to_numpy(f(x)), to_numpy(f(prior.y_tensor))
        out.dual[name] = critic_bounds(fx, fy, xn, prior.y, w1.value)
        for suffix, key, text in _DUAL_CHECKS:
            out.checks[f"w1_ge_{name}_{suffix}"] = inequality(w1.upper, out.dual[name][key], text)
        out.arrays[f"{name}_fx"], out.arrays[f"{name}_fy"] = fx, fy
    pot_f, pot_g = (np.asarray(v) for v in w1.potentials)
    out.arrays["potential_x"], out.arrays["potential_y"] = pot_f, -pot_g
    return out


_DUAL_CHECKS = (("bound", "lower_bound", "exact W_1 >= (E f(X) - E f(G(Z))) / Lip(f)"),
                ("bound_cross", "lower_bound_cross",
                 "exact W_1 >= (E f(X) - E f(G(Z))) / Lip_cross(f)"),
                ("bound_ctransform", "lower_bound_ctransform",
                 "exact W_1 >= dual value of (f / Lip_cross, its c-transform)"))


def critic_bounds(fx, fy, x, y, w1: float) -> dict:
    """A critic's values fx, fy at the points x, y as lower bounds on W_1: value / Lip,
    value / Lip_cross and the c-transform completion, with their ratios to the exact ``w1``."""
    value = float(fx.mean() - fy.mean())
    l_all, l_cross = lipschitz_constants(fx, fy, x, y)
    bound = value / l_all if l_all > 0 else 0.0
    bound_x = value / l_cross if l_cross > 0 else 0.0
    bound_c = ctransform_bound(fx / l_cross, x, y) if l_cross > 0 else 0.0
    ratio = (lambda b: b / w1) if w1 > 0 else (lambda b: float("nan"))  # noqa: E731
    return {"value": value, "lipschitz": l_all, "lipschitz_cross": l_cross,
            "lower_bound": bound, "lower_bound_cross": bound_x,
            "lower_bound_ctransform": bound_c, "ratio_ctransform_to_w1": ratio(bound_c),
            "ratio_to_w1": ratio(bound), "ratio_cross_to_w1": ratio(bound_x)}
