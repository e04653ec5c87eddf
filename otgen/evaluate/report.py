r"""The files of ``otgen evaluate --report DIR``: report.md, evaluation.json and PNGs.

* ``samples_real.png``, ``samples_fake.png`` -- image grids (image inputs only);
* ``sample_size_curve.png`` -- each quantity against n (log axis), the power-law fit dashed;
* ``projection.png`` -- real and fake features on their first two principal axes, with the
  ``MOVES`` longest moves of the certified W_2 plan drawn from x_i to y_j (lengths measured in
  the full feature space).

Figures use matplotlib's Agg backend (no display needed).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .._plots import image_grid, pyplot, save_figure

#: (key, label, what it is) of the report table, in order
ROWS = (("w2sq", "W_2^2", "certified OT cost between the samples (squared Euclidean)"),
        ("w1", "W_1", "certified OT cost between the samples (Euclidean)"),
        ("frechet", "Frechet (FID formula)", "Gelbrich lower bound on W_2^2 (Gaussian fits)"),
        ("mmd_imq", "MMD^2 IMQ", "unbiased, median-heuristic multi-scale IMQ kernel"),
        ("mmd_rbf", "MMD^2 RBF", "unbiased, median-heuristic multi-scale Gaussian kernel"),
        ("kid", "KID", "unbiased MMD^2, kernel (x.y/d + 1)^3"),
        ("precision", "precision", "fake samples inside the real k-NN manifold"),
        ("recall", "recall", "real samples inside the fake k-NN manifold"),
        ("density", "density", "mean number of real k-NN balls around a fake sample, / k"),
        ("coverage", "coverage", "real samples whose k-NN ball holds a fake sample"))


def write_report(result, out_dir) -> list:
    """Write report.md, evaluation.json and the PNGs of an evaluation into ``out_dir``.

    Parameters
    ----------
    result : EvaluationResult
        What :func:`otgen.evaluate` returned.
    out_dir : str or Path
        Directory (created if needed).

    Returns
    -------
    list of Path
        The written files, report.md first.

    Examples
    --------
    >>> import tempfile
    >>> rng = np.random.default_rng(0)
    >>> res = evaluate(rng.normal(size=(64, 2)), rng.normal(size=(64, 2)) + 1, seed=0,
    ...                repeats=0, curve=False)
    >>> [p.name for p in write_report(res, tempfile.mkdtemp())]
    ['report.md', 'evaluation.json', 'projection.png']

    References
    ----------
    J. D. Hunter. Matplotlib: a 2D graphics environment. Computing in Science & Engineering 9
    (2007).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps(result.to_dict(), indent=2))
    pngs = sample_grids(result, out) + ([curve_plot(result, out / "sample_size_curve.png")]
                                        if result.sample_size_curve else [])
    pngs.append(projection_plot(result, out / "projection.png"))
    (out / "report.md").write_text(markdown(result, [p.name for p in pngs]))
    return [out / "report.md", out / "evaluation.json"] + pngs


def _cell(e: dict) -> str:
    if "lower" in e:
        ci = f"; {100 * e['level']:g}% population CI [{e['ci'][0]:.5g}, {e['ci'][1]:.5g}]" \
            if e["ci"] else ""
        return f"{e['value']:.5g} | certified [{e['lower']:.5g}, {e['upper']:.5g}]{ci}"
    return f"{e['value']:.5g} | +- {e['se']:.2g} (standard error)"


def markdown(result, pngs) -> str:
    """The text of report.md: settings, the table of numbers, the curve's drifts, figures."""
    s, d = result.settings, result.to_dict()
    lines = ["# Evaluation report", "",
             f"n = {result.n} samples per side, dimension {s['dim']} (features: "
             f"{s['features']}), k = {s['k']}, seed {s['seed']}, {s['time_s']:.1f} s.", "",
             "| quantity | value | uncertainty | meaning |", "|---|---|---|---|"]
    lines += [f"| {label} | {_cell(d[key])} | {text} |" for key, label, text in ROWS]
    gap = d["frechet"]["gap_to_w2sq"]
    lines += ["", f"Frechet <= W_2^2 (Gelbrich): {'holds' if d['frechet']['holds'] else 'FAILS'};"
              f" gap W_2^2 - Frechet = {gap['value']:.5g} in [{gap['lower']:.5g}, "
              f"{gap['upper']:.5g}]: the part of W_2^2 that means and covariances miss."]
    if result.sample_size_curve:
        c = result.sample_size_curve
        lines += ["", f"## Sample-size curve (sizes {c['sizes']}, {c['repeats']} subsamples "
                  "each below n)", "", "| quantity | value at n | drift v(n) - v(n/2) | "
                  "fitted bias at n | extrapolated (n -> inf) | exponent b |", "|---|---|---|---|---|---|"]
        for key, label, _ in ROWS:
            q = c["quantities"][key]
            f = q["fit"] or {}
            drift = "-" if q["drift"] is None else f"{q['drift']:.3g} +- {q['drift_se']:.2g}"
            lines.append(f"| {label} | {q['mean'][-1]:.5g} | {drift} | " + " | ".join(
                "-" if v is None else f"{v:.3g}" for v in (f.get("bias_at_n"),
                                                          f.get("extrapolated"),
                                                          f.get("exponent"))) + " |")
    lines += ["", "## Figures", ""] + [f"![{p}]({p})" for p in pngs] + [""]
    return "\n".join(lines)


def sample_grids(result, out: Path) -> list:
    """Image grids of the first 64 real and fake samples (image inputs only)."""
    shape = result.settings["image_shape"]
    if not shape or "real_images" not in result.arrays:
        return []
    files = []
    for name in ("real", "fake"):
        imgs, path = result.arrays[f"{name}_images"][:64], out / f"samples_{name}.png"
        title = f"{name} samples"
        if len(shape) == 2 or (len(shape) == 3 and shape[2] == 1):
            files.append(image_grid(imgs, tuple(shape[:2]), path, title=title))
        elif len(shape) == 3 and shape[2] in (3, 4):  # RGB(A): the colour channels
            rgb = imgs.reshape(-1, *shape)[..., :3]
            files.append(image_grid(rgb, (*shape[:2], 3), path, title=title))
    return files


def curve_plot(result, path: Path) -> Path:
    """One panel per quantity: mean +- std over subsamples against n, the fit dashed."""
    plt = pyplot()
    c = result.sample_size_curve
    sizes = np.asarray(c["sizes"], np.float64)
    fig, axes = plt.subplots(2, 5, figsize=(17, 6.5))
    for ax, (key, label, _) in zip(axes.flat, ROWS):
        q = c["quantities"][key]
        ax.errorbar(sizes, q["mean"], yerr=q["std"], marker="o", capsize=3)
        if q["fit"]:
            f, grid = q["fit"], np.geomspace(sizes[0], sizes[-1], 50)
            ax.plot(grid, f["extrapolated"] + f["bias_at_n"] * (grid / sizes[-1]) ** -f["exponent"],
                    "--", color="gray", label=f"c + a (n/N)^-b: b={f['exponent']:.2f}, "
                                              f"a={f['bias_at_n']:.3g}, c={f['extrapolated']:.3g}")
            ax.legend(fontsize=6)
        ax.set_xscale("log")
        ax.set_xticks(sizes, [str(int(s)) for s in sizes], fontsize=7)
        ax.minorticks_off()
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("n per side", fontsize=8)
    fig.suptitle("sample-size curve: mean +- std over subsamples at n/8, n/4, n/2; the full "
                 "sample at n (dashed: power-law fit, none for the unbiased MMDs)", fontsize=10)
    return save_figure(fig, path, dpi=90)


def projection_plot(result, path: Path) -> Path:
    """Real vs fake on the first two principal axes, the longest OT moves drawn."""
    plt = pyplot()
    x, y = result.arrays["real"], result.arrays["fake"]
    both = np.concatenate([x, y])
    mean = both.mean(0)
    vt = np.linalg.svd(both - mean, full_matrices=False)[2][:2]
    px, py = (x - mean) @ vt.T, (y - mean) @ vt.T
    if px.shape[1] == 1:  # 1-D features: spread the points along a zero second axis
        px, py = np.c_[px, np.zeros(len(px))], np.c_[py, np.zeros(len(py))]
    fig, ax = plt.subplots(figsize=(6, 5.5))
    ax.scatter(*px.T, s=5, alpha=0.6, label="real")
    ax.scatter(*py.T, s=5, alpha=0.6, label="fake")
    i, j, length = result.arrays["moves"]
    for a, b in zip(i, j):
        ax.plot([px[a, 0], py[b, 0]], [px[a, 1], py[b, 1]], color="k", lw=0.6, alpha=0.7)
    if len(i):
        ax.plot([], [], color="k", lw=0.6, label=f"{len(i)} longest moves of the W_2 plan "
                                                f"(length {length[-1]:.3g} to {length[0]:.3g})")
    ax.legend(fontsize=7)
    ax.set_title("PCA projection of the features", fontsize=9)
    return save_figure(fig, path)
