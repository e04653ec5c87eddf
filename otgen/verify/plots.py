"""Figures for ``otgen verify --plots DIR``: the theorems, drawn from the same instances.

* ``theorem_b_penalized_vs_lambda.png`` -- the penalized-OT value as a function of lambda
  rises (concave, piecewise linear) and meets W_1(P_X, G#P_Z) no later than lambda = Lip(G).
* ``blur_sharpness_vs_overlap.png`` -- sharpness of optimal-decoder outputs falls as encoder
  posteriors overlap, with decoded digits at a few posterior widths.

Figures are drawn on matplotlib ``Figure`` objects with the Agg canvas (no pyplot global state,
no display needed).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..theory import lipschitz_constant, penalized_ot, wasserstein
from .theorems import blur_curve, pushforward, theorem_b_instance


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(fig)
    return fig


def plot_penalized_vs_lambda(path: Path, seed: int = 0) -> Path:
    """Penalized OT value vs lambda against W_1(P_X, G#P_Z), with lambda = Lip(G) marked."""
    rng = np.random.default_rng(seed + 500)
    x, a, z, b, grid, G, lip = theorem_b_instance(rng, 1)
    atoms, w = pushforward(G(z), b)
    w1 = wasserstein(x, atoms, a, w, p=1, method="exact").value
    lams = np.linspace(0, 2 * lip, 81)
    vals = [penalized_ot(x, z, G, lam, a, b, latent_grid=grid).value for lam in lams]
    fig = _figure(6, 4)
    ax = fig.add_subplot()
    ax.plot(lams, vals, "o-", ms=2.5, label=r"penalized OT  $\inf_Q\ E\|X-G(Z)\| + "
                                            r"\lambda W_1(Q_Z, P_Z)$")
    ax.axhline(w1, color="k", ls="--", label=r"$W_1(P_X, G_{\#}P_Z)$ (exact)")
    ax.axvline(lip, color="C3", ls=":", label=r"$\lambda = \mathrm{Lip}(G)$ on grid $\cup$ atoms")
    ax.axvline(lipschitz_constant(G, grid, z), color="C2", ls="-.",
               label=r"$\lambda$ = Lip(G) on pairs (grid, atoms)")
    ax.set_xlabel(r"$\lambda$")
    ax.set_ylabel("value")
    ax.set_title("Theorem B: the penalty is exact once $\\lambda \\geq$ Lip(G)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_blur(path: Path, seed: int = 0) -> Path:
    """Sharpness of conditional-mean decodings vs posterior overlap, and example digits."""
    from .theorems import SIGMAS

    rng = np.random.default_rng(seed + 1100)
    overlap, sharp, data_sharp, decoded = blur_curve(rng)
    fig = _figure(9, 4)
    ax = fig.add_subplot(1, 2, 1)
    ax.plot(overlap, sharp, "o-")
    ax.axhline(data_sharp, color="k", ls="--", label="data")
    for o, s, sig in zip(overlap, sharp, SIGMAS):
        ax.annotate(f"σ={sig:g}", (o, s), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("posterior overlap  1 - I(X;Z) / H(X)")
    ax.set_ylabel("mean sharpness (Laplacian variance)")
    ax.set_title("Optimal decoder E[X|Z]: overlap -> blur")
    ax.legend(fontsize=8)
    shown = [0, 3, 5, len(SIGMAS) - 1]
    for r, k in enumerate(shown):
        for c in range(4):
            sub = fig.add_subplot(len(shown), 8, r * 8 + 5 + c)
            sub.imshow(decoded[k][c].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            sub.set_xticks([])
            sub.set_yticks([])
            if c == 0:
                sub.set_ylabel(f"σ={SIGMAS[k]:g}", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    return path


def write_plots(directory, seed: int = 0) -> list[Path]:
    """Write every figure into ``directory`` (created if needed); return the written paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    return [plot_penalized_vs_lambda(out / "theorem_b_penalized_vs_lambda.png", seed),
            plot_blur(out / "blur_sharpness_vs_overlap.png", seed)]
