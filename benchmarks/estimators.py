"""Estimator benchmark: time and accuracy of otgen's methods against POT, GeomLoss and scipy.

    python -m benchmarks.estimators            # full run (n up to 20,000; ~15 min on 2 cores)
    python -m benchmarks.estimators --quick    # n <= 2,000 (about a minute)

Writes docs/benchmarks_estimators.json, docs/benchmarks-estimators.png and the estimator
section of docs/benchmarks.md.  Every ratio is measured in the same run on the same machine.
Ground truth = ot.emd2 (dense network simplex) where it runs, else otgen's exact interval.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np

DOCS = Path(__file__).resolve().parent.parent / "docs"


def clouds(n, d, seed=0, family="gaussian"):
    """x ~ N(0, I); y ~ N(1, I) ("gaussian") or a shifted Student-t(3) ("student-t", heavy
    tails: the Gelbrich moment bound is loose there, so it shows the solver without that help)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    if family == "student-t":
        return x, rng.standard_t(3, size=(n, d)) + 1.0
    return x, rng.standard_normal((n, d)) + 1.0


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run_case(n, d, limits, family="gaussian"):
    import ot
    import torch
    from geomloss import SamplesLoss

    from otgen.theory import wasserstein

    x, y = clouds(n, d, family=family)
    rows = []
    truth = None
    if n <= limits["emd2"]:
        truth, t = timed(lambda: float(ot.emd2([], [], ot.dist(x, y), numItermax=10**9)))
        rows.append(dict(method="ot.emd2", value=truth, time_s=t, certified=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, kw in [("otgen exact", dict(method="exact")),
                         ("otgen auto tol=1e-2", dict(method="auto", tol=1e-2)),
                         ("otgen sinkhorn tol=1e-2", dict(method="sinkhorn", tol=1e-2)),
                         ("otgen gaussian", dict(method="gaussian"))]:
            if n > limits.get(name, np.inf):
                continue
            r, t = timed(lambda: wasserstein(x, y, **kw))
            rows.append(dict(method=name, value=float(r.value), lower=r.lower, upper=r.upper,
                             rel_gap=r.rel_gap, time_s=t, certified=True, used=r.method,
                             converged=bool(r.converged)))
            if truth is None and name == "otgen exact":
                truth = float(r.value)
    if n <= limits["ot.solve_sample"]:
        M = ot.dist(x, y)
        reg = 0.05 * float(M.mean())
        res, t = timed(lambda: ot.solve_sample(x, y, reg=reg, max_iter=10**4))
        rows.append(dict(method="ot.solve_sample (reg=.05 mean C)", value=float(res.value_linear),
                         time_s=t, certified=False))
    if n <= limits["geomloss"]:
        xt, yt = torch.as_tensor(x), torch.as_tensor(y)
        loss = SamplesLoss("sinkhorn", p=2, blur=0.01, scaling=0.9, debias=False)
        val, t = timed(lambda: 2 * float(loss(xt, yt)))
        rows.append(dict(method="geomloss sinkhorn blur=.01", value=val, time_s=t,
                         certified=False))
    if n <= limits["ot.emd2_lazy"]:
        val, t = timed(lambda: float(ot.emd2_lazy(x, y, numItermax=10**9, return_matrix=False)))
        rows.append(dict(method="ot.emd2_lazy", value=val, time_s=t, certified=False))
    for r in rows:
        r.update(n=n, d=d, family=family, truth=truth,
                 rel_error=(abs(r["value"] - truth) / truth) if truth else None)
        if r.get("certified") and truth is not None:
            r["contains_truth"] = bool(r["lower"] - 1e-9 * truth <= truth <= r["upper"] + 1e-9 * truth)
    emd = next((r for r in rows if r["method"] == "ot.emd2"), None)
    for r in rows:
        r["speedup_vs_emd2"] = (emd["time_s"] / r["time_s"]) if emd else None
    return rows


def machine_info():
    import geomloss
    import ot
    import scipy
    import torch

    return {"python": platform.python_version(), "machine": platform.machine(),
            "cpu_count": __import__("os").cpu_count(), "numpy": np.__version__,
            "scipy": scipy.__version__, "pot": ot.__version__, "geomloss": geomloss.__version__,
            "torch": torch.__version__}


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(r["family"], r["d"]) for r in rows})
    methods = sorted({r["method"] for r in rows})
    colors = {m: plt.cm.tab10(i % 10) for i, m in enumerate(methods)}  # same colour everywhere
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for ax, (family, d) in zip(axes[0], panels):
        for method in methods:
            pts = [(r["time_s"], max(r["rel_error"], 1e-16), r["n"]) for r in rows
                   if (r["family"], r["d"]) == (family, d) and r["method"] == method
                   and r["rel_error"] is not None]
            if not pts:
                continue
            t, e, n = zip(*pts)
            ax.plot(t, e, "o-", label=method, color=colors[method])
            for ti, ei, ni in pts:
                ax.annotate(f"{ni}", (ti, ei), fontsize=6)
        ax.set(xscale="log", yscale="log", xlabel="time (s)", ylabel="relative error vs exact",
               title=f"W_2^2, {family} clouds, d={d} (labels: n)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def markdown(rows, info, wall):
    lines = ["## Estimators: otgen vs POT, GeomLoss, scipy", "",
             f"Machine: {info['cpu_count']} CPU cores ({info['machine']}), no GPU; numpy "
             f"{info['numpy']}, POT {info['pot']}, geomloss {info['geomloss']}, torch "
             f"{info['torch']}.  Data: x ~ N(0, I), y ~ N(1, I) (gaussian) or y ~ Student-t(3) + 1 "
             "(student-t), uniform weights, W_2^2.  "
             f"Wall time of this run: {wall:.0f} s.  `python -m benchmarks.estimators`.", "",
             "| data | d | n | method | value | rel. error | certified interval (rel. width) | time (s) | speed-up vs ot.emd2 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        interval = (f"[{r['lower']:.5g}, {r['upper']:.5g}] ({r['rel_gap']:.1e})"
                    if r.get("certified") else "none")
        err = "" if r["rel_error"] is None else f"{r['rel_error']:.1e}"
        sp = "" if r["speedup_vs_emd2"] is None else f"{r['speedup_vs_emd2']:.2f}x"
        name = r["method"] + (f" ({r['used']})" if r.get("used") and r["used"] not in r["method"] else "")
        lines.append(f"| {r['family']} | {r['d']} | {r['n']} | {name} | {r['value']:.6g} | {err} | {interval} | "
                     f"{r['time_s']:.2f} | {sp} |")
    lines += ["", "![error vs time](benchmarks-estimators.png)", ""]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n <= 2000 only")
    ap.add_argument("--out", type=Path, default=DOCS)
    ap.add_argument("--only-n", type=int, default=None, help="run only the cases with this n")
    ap.add_argument("--replot", action="store_true",
                    help="redraw the PNG and table from the saved JSON without re-measuring")
    args = ap.parse_args(argv)
    sizes = [500, 2000] if args.quick else [500, 2000, 5000, 20000]
    limits = {"emd2": 20000, "ot.solve_sample": 2000, "geomloss": 2000, "ot.emd2_lazy": 5000,
              "otgen sinkhorn tol=1e-2": 2000, "otgen exact": 20000}
    if args.replot:
        saved = json.loads((args.out / "benchmarks_estimators.json").read_text())
        plot(saved["rows"], args.out / "benchmarks-estimators.png")
        (args.out / "benchmarks-estimators.md").write_text(
            markdown(saved["rows"], saved["machine"], saved["wall_s"]))
        return
    t0 = time.perf_counter()
    rows = []
    cases = [(d, n, "gaussian") for d in (2, 8) for n in sizes]
    cases += [(2, n, "student-t") for n in sizes[-2:]]
    if args.only_n:
        cases = [c for c in cases if c[1] == args.only_n]
    for d, n, family in cases:
        case = run_case(n, d, limits, family)
        rows.extend(case)
        for r in case:
            print(f"{family:9s} d={d} n={n:6d} {r['method']:34s} value={r['value']:.6g} "
                      f"err={r['rel_error'] if r['rel_error'] is not None else float('nan'):.1e} "
                      f"time={r['time_s']:.2f}s", flush=True)
    wall = time.perf_counter() - t0
    info = machine_info()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "benchmarks_estimators.json").write_text(
        json.dumps({"machine": info, "wall_s": wall, "rows": rows}, indent=1))
    plot(rows, args.out / "benchmarks-estimators.png")
    md = markdown(rows, info, wall)
    (args.out / "benchmarks-estimators.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
