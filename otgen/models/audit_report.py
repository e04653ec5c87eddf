"""The audit's outputs: ``audit.json``, ``report.md`` and figures; samples of a run.

:func:`write_report` turns an :class:`~otgen.models.audit.AuditResult` into files;
:func:`image_grid`, :func:`critic_plot` and :func:`sample_run` draw what it shows.  Nothing
here measures anything: the numbers come from :func:`otgen.models.audit.audit`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .._plots import image_grid, pyplot, save_figure
from .._validate import check_int

__all__ = ["critic_plot", "image_grid", "markdown", "sample_run", "write_report"]


def write_report(result, out_dir, *, model=None, data=None, plots=True, critics=None) -> list:
    """Write ``audit.json``, ``report.md`` and PNGs; returns the written paths.

    ``result`` is an :class:`~otgen.models.audit.AuditResult` (its ``files`` are set);
    ``data`` (image shape) and ``critics`` (name -> critic, drawn for 2-D data) feed the
    figures; ``model`` is accepted for the callers that pass it and not needed."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    if plots:
        files += _plots(result, out_dir, data, critics or {})
    m = result.metrics
    (out_dir / "audit.json").write_text(json.dumps(m, indent=2, default=float))
    (out_dir / "report.md").write_text(markdown(m, [f.name for f in files]))
    files = [out_dir / "audit.json", out_dir / "report.md"] + files
    result.files = files
    return files


def markdown(m: dict, pngs: list) -> str:
    """``report.md``: the audit's metrics (``AuditResult.metrics``) as a Markdown page."""
    lines = [f"# Audit: {m['model']} on {m['data']}", "",
             f"n = {m['n']} held-out points, {m['n_gen']} generated points per draw, "
             f"{m['repeats']} draws, seed {m['seed']}.  Encoder: {m['encoder']}.", ""]
    lines += _md_checks(m["checks"]) + _md_primal(m) + _md_latent(m["latent"])
    lines += _md_dual(m["dual"])
    if "sharpness" in m:
        s = m["sharpness"]
        lines += ["", "## Sharpness (variance of the Laplacian)", "",
                  f"real {s['real']:.4g}, samples {s['samples']:.4g}, reconstructions "
                  f"{s['reconstructions']:.4g}"]
    if "sample_quality" in m:
        lines += _md_quality(m["sample_quality"])
    if pngs:
        lines += ["", "## Figures", ""] + [f"![{p}]({p})" for p in pngs]
    lines.append(f"\nAll hard inequalities hold: {'yes' if m['passed'] else 'NO'}\n")
    return "\n".join(lines)


def _md_checks(checks: dict) -> list:
    lines = ["## Hard inequalities", "", "| check | lhs | rhs | holds |", "|---|---|---|---|"]
    for k, c in checks.items():
        lines.append(f"| {k} | {c['lhs']:.6g} | {c['rhs']:.6g} | {'yes' if c['holds'] else 'NO'} |")
    return lines


def _md_primal(m: dict) -> list:
    titles = {"squared": "squared cost (W_2^2)", "l2": "L2 cost (W_1)"}
    costs = list(m["primal"])
    wp, gd = m["w2sq_test_vs_model"], m["gap_decomposition"]
    row = " | ".join
    extra = []
    if "w_cost_test_vs_model" in m:
        wc = m["w_cost_test_vs_model"]
        extra = [f"W_c(P_test, G#P_Z), c = {wc['cost']}, exact: mean {wc['mean']:.5g} +- "
                 f"{wc['std']:.2g} over draws; certified interval [{wc['lower']:.5g}, "
                 f"{wc['upper']:.5g}].", ""]
    return ["", "## Primal OT", "",
            f"| quantity | {row(titles.get(c, f'cost {c}') for c in costs)} |",
            "|---" * (len(costs) + 1) + "|",
            f"| recon E c(X, G(Z)), Z ~ Q(Z|X) | "
            f"{row(format(m['primal'][c]['recon'], '.5g') for c in costs)} |",
            f"| exact W_c(P_X, G#Q_Z) | "
            f"{row(format(m['primal'][c]['w_encoded'], '.5g') for c in costs)} |", "",
            *extra,
            f"W_2^2(P_test, G#P_Z), exact: mean {wp['mean']:.5g} +- {wp['std']:.2g} over "
            f"draws; certified interval over all draws [{wp['lower']:.5g}, {wp['upper']:.5g}]."
            f"  Data floor W_2^2(P_test, P_train sample): {wp['data_floor_mean']:.5g} +- "
            f"{wp['data_floor_std']:.2g}.", "",
            f"Gap recon - W(P_X, G#P_Z) = {gd['recon_minus_w_prior']:.5g} = encoder "
            f"suboptimality {gd['encoder_suboptimality']:.5g} + latent mismatch "
            f"{gd['latent_mismatch']:.5g}."]


def _md_quality(q: dict) -> list:
    """Section 6: otgen.evaluate's numbers for the first generated draw vs the test set."""
    rows = [f"| {k} | {q[k]['value']:.5g} | {q[k]['se']:.2g} |" for k in q]
    return ["", "## Sample quality (otgen.evaluate, first draw vs test)", "",
            "Frechet = FID's formula on the data itself, a lower bound on W_2^2.", "",
            "| quantity | value | se |", "|---|---|---|", *rows]


def _md_latent(latent: dict) -> list:
    return ["", "## Latent", ""] + [f"- {k}: {v:.5g}" if isinstance(v, float) else f"- {k}: {v}"
                                    for k, v in latent.items()]


def _md_dual(dual: dict) -> list:
    lines = ["", "## Dual (critic) vs exact W_1", "",
             f"Exact W_1(P_test, G#P_Z) = {dual['w1_exact']:.5g}.", "",
             "| critic | E f(X) - E f(G(Z)) | Lip | value / Lip | Lip_cross | value / Lip_cross "
             "| c-transform bound | best / W_1 |", "|---|---|---|---|---|---|---|---|"]
    for k, d in dual.items():
        if isinstance(d, dict):
            lines.append(f"| {k} | {d['value']:.5g} | {d['lipschitz']:.4g} | "
                         f"{d['lower_bound']:.5g} | {d['lipschitz_cross']:.4g} | "
                         f"{d['lower_bound_cross']:.5g} | {d['lower_bound_ctransform']:.5g} | "
                         f"{d['ratio_ctransform_to_w1']:.3f} |")
    return lines


# --- figures ----------------------------------------------------------------------------------
def _scatter(path, clouds: list, title: str | None = None) -> Path:
    """A 2-D scatter plot of ``clouds`` = [(points (n, 2), label, alpha), ...] saved at path."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for pts, label, alpha in clouds:
        ax.scatter(*pts.T, s=4, alpha=alpha, label=label)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def _plots(result, out_dir, data, critics) -> list:
    a, kind = result.arrays, result.metrics["model"]
    shape = data.image_shape if data is not None else None
    if shape is not None:
        d = a["x"].shape[1]
        ncol = min(8, len(a["x"]))
        rows = min(4, len(a["x"]) // ncol)
        k = rows * ncol
        pairs = np.concatenate([a["x"][:k].reshape(rows, ncol, d),
                                a["y_enc"][:k].reshape(rows, ncol, d)], 1)
        return [image_grid(a["y_prior"][:64], shape, out_dir / "samples.png",
                           title=f"{kind}: G(Z), Z ~ P_Z"),
                image_grid(pairs.reshape(-1, d), shape, out_dir / "reconstructions.png",
                           ncol=ncol, title=f"{kind}: data (odd rows), G(Z), Z ~ Q(Z|X) "
                                            "(even rows)")]
    if a["x"].shape[1] != 2:
        return []
    files = [_scatter(out_dir / "samples.png", [(a["x"], "test data", None),
                                                (a["y_prior"], "G(Z), Z ~ P_Z", None),
                                                (a["y_enc"], "G(Z), Z ~ Q(Z|X)", 0.5)],
                      title=f"{kind}: samples")]
    name = "audit_critic" if "audit_critic" in critics else next(iter(critics), None)
    if name is not None:
        files.append(critic_plot(critics[name], result, name, out_dir / "critic.png"))
    return files


def critic_plot(critic, result, name, path):
    """2-D data: the critic f / Lip over the plane, and f / Lip vs the exact Kantorovich
    potential at the sample points (both shifted to mean zero)."""
    plt = pyplot()
    a, d = result.arrays, result.metrics["dual"]
    lip = d[name]["lipschitz"] or 1.0
    pts = np.concatenate([a["x"], a["y_prior"]])
    lo, hi = pts.min(0) - 0.5, pts.max(0) + 0.5
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 120), np.linspace(lo[1], hi[1], 120))
    with torch.no_grad():
        fz = critic(torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], 1),
                                    dtype=torch.float32)).numpy().reshape(gx.shape) / lip
    fig, axs = plt.subplots(1, 2, figsize=(10, 4.4))
    im = axs[0].contourf(gx, gy, fz, levels=30, cmap="RdBu_r")
    fig.colorbar(im, ax=axs[0])
    axs[0].scatter(*a["x"].T, s=3, c="k", label="test data")
    axs[0].scatter(*a["y_prior"].T, s=3, c="orange", label="G(Z)")
    axs[0].legend(fontsize=7, loc="upper right")
    axs[0].set_title(f"critic f / Lip ({name})", fontsize=9)
    crit = np.concatenate([a[f"{name}_fx"], a[f"{name}_fy"]]) / lip
    pot = np.concatenate([a["potential_x"], a["potential_y"]])
    crit, pot = crit - crit.mean(), pot - pot.mean()
    n = len(a["x"])
    axs[1].scatter(pot[:n], crit[:n], s=4, label="at test points")
    axs[1].scatter(pot[n:], crit[n:], s=4, label="at G(Z)")
    lim = [min(pot.min(), crit.min()), max(pot.max(), crit.max())]
    axs[1].plot(lim, lim, "k--", lw=0.8)
    axs[1].set_xlabel("exact Kantorovich potential (LP dual), centered")
    axs[1].set_ylabel("critic f / Lip, centered")
    axs[1].legend(fontsize=7)
    axs[1].set_title(f"f/Lip: {d[name]['lower_bound']:.4g}, c-transform: "
                     f"{d[name]['lower_bound_ctransform']:.4g}, exact W_1: {d['w1_exact']:.4g}",
                     fontsize=9)
    return save_figure(fig, path)


def sample_run(run_dir, n: int = 64, out=None, *, seed: int = 0):
    r"""Draw ``n`` samples :math:`G(Z)`, :math:`Z \sim P_Z`, from a run and optionally save them.

    Saves an image grid (image data), a scatter plot (2-D data) or an ``.npy`` array (any data,
    when ``out`` ends with .npy).  Samples are decoder means (no decoder noise).

    Parameters
    ----------
    run_dir : str or Path
        A directory written by :func:`otgen.models.fit`.
    n : int
        Number of samples.
    out : str or Path, optional
        Where to save them (``.png`` figure or ``.npy`` array); None: nothing written.
    seed : int
        Seed of the prior draws (deterministic samples).

    Returns
    -------
    samples : torch.Tensor (n, d)
        The samples, in data units.
    path : Path or None
        The written file.

    Examples
    --------
    >>> import tempfile
    >>> run_dir = tempfile.mkdtemp()
    >>> cfg = TrainConfig(model="wae-mmd", data="mixture", latent_dim=2, hidden=(8,),
    ...                   data_options={"n_train": 100, "n_test": 40}, batch_size=20)
    >>> _ = fit(cfg, run_dir, max_steps=2)
    >>> y, path = sample_run(run_dir, n=5)
    >>> tuple(y.shape), path
    ((5, 2), None)

    References
    ----------
    O. Bousquet et al. The VEGAN cookbook. arXiv:1705.07642, 2017 (the model
    :math:`P_G = G_\# P_Z`).
    """
    from .train import load_run

    check_int(n, "n", 1)
    run = load_run(run_dir)
    y = run.model.sample(n, torch.Generator().manual_seed(seed))
    if out is None:
        return y, None
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, y.numpy())
    elif run.data.image_shape is not None:
        image_grid(y, run.data.image_shape, out, title=f"{run.config.model}: {n} samples")
    elif y.shape[1] == 2:
        _scatter(out, [(run.data.test.numpy(), "test data", None), (y.numpy(), "samples", None)])
    else:
        raise ValueError(f"cannot draw {y.shape[1]}-D non-image samples; use --out FILE.npy")
    return y, out
