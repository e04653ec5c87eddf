"""Estimator benchmark: accuracy vs time of otgen's methods against POT, GeomLoss and scipy.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 taskset -c 1 python -m benchmarks.estimators
                                              # full run: d in {2, 8, 64}, n = 1,000 .. 100,000
    python -m benchmarks.estimators --quick   # n <= 2,000 (a few minutes)
    python -m benchmarks.estimators --tiny --out /tmp/est   # seconds (the smoke test)
    python -m benchmarks.estimators --replot  # redraw PNG + markdown from the saved JSON

Writes ``benchmarks_estimators.json``, ``benchmarks-estimators.png`` and
``benchmarks-estimators.md`` into ``--out`` (default ``docs/``).  Every ratio is measured in
the same run on the same machine, single-threaded (torch, BLAS and OpenMP limited to 1 thread).

Sizes grow until a method no longer fits: dense methods stop where their n x m float64 cost
matrix exceeds ``--mem-cap-gb``; every method stops where the time predicted for the next size
(last time x (n_next / n_last)^k, k the least-squares exponent of the sizes measured so far,
k >= 1, k = 2 before two sizes exist) exceeds ``--budget`` seconds.  Skipped cells are recorded
with the reason.

Ground truth per (d, n): the exact OT value when a dense exact solver ran (otgen exact, else
ot.emd2, else scipy's assignment); otherwise the intersection of the certified intervals of all
otgen runs at that size (in practice the sparse solver's tol=1e-3 interval), with its midpoint as
the truth and its half-width as the truth's uncertainty.
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from .common import fit_exponent, machine_info, predict  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs"
FLOOR = 1e-9  # errors below it (exact solvers, ~1e-15) are drawn at it


def clouds(n, d, seed=0):
    """x ~ N(0, I_d), y ~ N(1, I_d): n points each, uniform weights."""
    rng = np.random.default_rng(seed + 1000 * d + n)
    return rng.standard_normal((n, d)), rng.standard_normal((n, d)) + 1.0


class CPULimit(Exception):
    """Raised by the SIGPROF timer when a run exceeds its CPU-time limit."""


def _on_sigprof(signum, frame):
    raise CPULimit()


def timed(fn, cpu_limit=None):
    """(result, CPU seconds, wall seconds).  CPU time of this (single-threaded) process is the
    measure: the core may be shared, and wall time then counts other jobs' turns.  With
    ``cpu_limit`` a SIGPROF timer interrupts the run (at the next Python bytecode) after that many
    CPU seconds and CPULimit is raised."""
    import signal
    use_timer = cpu_limit is not None and hasattr(signal, "setitimer")
    if use_timer:
        old = signal.signal(signal.SIGPROF, _on_sigprof)
        signal.setitimer(signal.ITIMER_PROF, cpu_limit)
    c0, t0 = time.process_time(), time.perf_counter()
    try:
        out = fn()
    finally:
        if use_timer:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.signal(signal.SIGPROF, old)
    return out, time.process_time() - c0, time.perf_counter() - t0


# ---------------------------------------------------------------- the contenders
def _otgen(kw):
    def run(x, y):
        from otgen.theory import wasserstein
        r = wasserstein(x, y, seed=0, **kw)
        return dict(value=float(r.value), lower=float(r.lower), upper=float(r.upper),
                    used=r.method, converged=bool(r.converged))
    return run


def _otgen_sliced(x, y):
    from otgen.theory import sliced_wasserstein
    r = sliced_wasserstein(x, y, p=2, n_projections=200, seed=0)
    return dict(value=float(r.value), lower=float(r.lower), upper=float(r.upper), used="sliced",
                converged=True)


def _emd2(x, y):
    import ot
    return dict(value=float(ot.emd2([], [], ot.dist(x, y), numItermax=10**9)))


def _solve_sample(x, y):
    import ot
    M = ot.dist(x, y)
    reg = 0.05 * float(M.mean())
    res = ot.solve_sample(x, y, reg=reg, max_iter=10**4)
    return dict(value=float(res.value_linear))


def _geomloss(backend):
    def run(x, y):
        import torch
        from geomloss import SamplesLoss
        loss = SamplesLoss("sinkhorn", p=2, blur=0.01, scaling=0.9, debias=False, backend=backend)
        xt = torch.as_tensor(x, dtype=torch.float32)
        yt = torch.as_tensor(y, dtype=torch.float32)
        return dict(value=2.0 * float(loss(xt, yt)))  # GeomLoss cost is |x - y|^2 / 2
    return run


def _lsa(x, y):
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist
    C = cdist(x, y, "sqeuclidean")
    r, c = linear_sum_assignment(C)
    return dict(value=float(C[r, c].mean()))


def _pot_sliced(x, y):
    import ot
    return dict(value=float(ot.sliced_wasserstein_distance(x, y, n_projections=200, p=2,
                                                           seed=0)) ** 2)


# name -> (runner, properties).  dense: needs the n x m cost matrix; certified: returns an
# interval on W_2^2; quantity: what `value` estimates; max_d: only run for d <= max_d;
# keops: needs a KeOps build (left out of --tiny).
METHODS = {
    "otgen auto": (_otgen(dict(method="auto", tol=1e-2)),
                   dict(certified=True, note="tol=1e-2 (exact if n m <= 1e7, else sparse)")),
    "otgen sparse": (_otgen(dict(method="sparse", tol=1e-3)), dict(certified=True, note="tol=1e-3")),
    "otgen exact": (_otgen(dict(method="exact")),
                    dict(certified=True, note="dense simplex up to 4.1e8 entries, beyond that "
                         "the sparse solver run to optimality")),
    "otgen sinkhorn": (_otgen(dict(method="sinkhorn", tol=1e-2)),
                       dict(certified=True, note="tol=1e-2, adaptive eps")),
    "otgen gaussian": (_otgen(dict(method="gaussian")), dict(certified=True, note="Bures")),
    "otgen sliced": (_otgen_sliced, dict(certified=True, quantity="SW_2^2",
                                         note="200 projections; interval is on W_2^2")),
    "ot.emd2": (_emd2, dict(dense=True, note="network simplex, incl. ot.dist")),
    "scipy linear_sum_assignment": (_lsa, dict(dense=True, note="assignment, incl. cdist")),
    "ot.solve_sample": (_solve_sample, dict(dense=True, note="entropic, reg = 0.05 mean(C)")),
    "geomloss tensorized": (_geomloss("tensorized"),
                            dict(dense=True, note="blur=0.01 scaling=0.9 debias=False float32")),
    "geomloss online": (_geomloss("online"),
                        dict(keops=True, note="blur=0.01 scaling=0.9 debias=False float32")),
    "geomloss multiscale": (_geomloss("multiscale"),
                            dict(keops=True, max_d=3,
                                 note="blur=0.01 scaling=0.9 debias=False float32")),
    "ot.sliced_wasserstein_distance": (_pot_sliced, dict(quantity="SW_2^2",
                                                         note="200 projections, squared")),
}
#: an interval truth is used only when its half-width is at most this fraction of its midpoint
TRUTH_MAX_REL_HALFWIDTH = 1e-2
EXACT_SOURCES = ("otgen exact", "ot.emd2", "scipy linear_sum_assignment")


# ---------------------------------------------------------------- ground truth
def ground_truth(rows):
    """The exact value when a dense exact solver ran, else the intersection of the otgen
    certified intervals: (value, half-width, kind, source)."""
    ok = {r["method"]: r for r in rows if r["status"] == "ok"}
    for m in EXACT_SOURCES:
        if m in ok:
            return ok[m]["value"], 0.0, "exact", m
    ivs = [r for r in ok.values() if r.get("lower") is not None]
    if not ivs:
        return None, None, "none", None
    lo, hi = max(r["lower"] for r in ivs), min(r["upper"] for r in ivs)
    src = min(ivs, key=lambda r: r["upper"] - r["lower"])["method"]
    if lo > hi * (1 + 1e-9):
        return None, None, "inconsistent intervals", src
    lo = min(lo, hi)
    if hi - lo > 2 * TRUTH_MAX_REL_HALFWIDTH * 0.5 * (lo + hi):
        return None, None, f"none (tightest interval [{lo:.4g}, {hi:.4g}])", src
    return 0.5 * (lo + hi), 0.5 * (hi - lo), "interval", src


def run_case(n, d, names, history, cfg, t_start):
    x, y = clouds(n, d)
    rows = []
    for name in names:
        fn, props = METHODS[name]
        row = dict(method=name, n=n, d=d, quantity=props.get("quantity", "W_2^2"),
                   certified=props.get("certified", False), note=props.get("note", ""))
        pts = history.setdefault((name, d), [])
        gb = n * n * 8 / 1e9
        pred = predict(pts, n)
        if props.get("dense") and gb > cfg["mem_cap_gb"]:
            row["status"] = f"skipped: dense cost matrix {gb:.1f} GB > {cfg['mem_cap_gb']:g} GB cap"
        elif history.get(("stopped", name, d)):
            row["status"] = history[("stopped", name, d)]
        elif pred > cfg["budget"]:
            row["status"] = f"skipped: predicted {pred:.3g} s > {cfg['budget']:g} s budget"
            history[("stopped", name, d)] = row["status"] + " (at a smaller n)"
        elif time.perf_counter() - t_start + pred > cfg["total_budget"]:
            row["status"] = "skipped: total wall-time budget of the run exhausted"
        else:
            row["predicted_s"] = pred if pts else None
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out, t, wall = timed(lambda: fn(x, y), cpu_limit=cfg["hard_factor"] * cfg["budget"])
                row.update(out, time_s=t, wall_s=wall, status="ok")
                pts.append((n, t))
            except CPULimit:
                row["status"] = (f"stopped: exceeded {cfg['hard_factor'] * cfg['budget']:g} s CPU "
                                 f"(predicted {pred:.3g} s)")
                history[("stopped", name, d)] = "skipped: stopped at a smaller n (CPU limit)"
            except Exception as e:  # recorded, never hidden
                row["status"] = f"error: {type(e).__name__}: {str(e)[:200]}"
        rows.append(row)
        msg = (f"d={d:2d} n={n:6d} {name:30s} "
               + (f"value={row['value']:.6g} time={row['time_s']:.2f}s" if row["status"] == "ok"
                  else row["status"]))
        print(msg, flush=True)
    return finalize(rows)


def finalize(rows):
    """Ground truth, relative errors, interval checks and speed-ups of one (d, n) case."""
    truth, hw, kind, src = ground_truth(rows)
    emd = next((r for r in rows if r["method"] == "ot.emd2" and r["status"] == "ok"), None)
    for r in rows:
        r.update(truth=truth, truth_halfwidth=hw, truth_kind=kind, truth_source=src)
        for key in ("rel_error", "error_resolved", "contains_truth"):
            r.pop(key, None)
        if r["status"] != "ok":
            continue
        r["rel_error"] = abs(r["value"] - truth) / truth if truth else None
        if r["rel_error"] is not None:
            r["error_resolved"] = bool(kind == "exact" or r["rel_error"] > 1.000001 * hw / truth)
        if r.get("lower") is not None:
            r["rel_gap"] = (r["upper"] - r["lower"]) / r["upper"] if r["upper"] else None
            if truth is not None:
                slack = 1e-9 * truth + (hw or 0.0)
                r["contains_truth"] = bool(r["lower"] - slack <= truth <= r["upper"] + slack)
        r["speedup_vs_emd2"] = emd["time_s"] / max(r["time_s"], 1e-6) if emd else None
    return rows
    return rows


def warm_up(names, d):
    """Untimed small call of every method: imports, KeOps compilation (per dimension)."""
    x, y = clouds(64, d, seed=1)
    for name in names:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                METHODS[name][0](x, y)
        except Exception as e:
            print(f"warm-up of {name} (d={d}) failed: {e}", flush=True)


def exponents(rows):
    out = []
    for (m, d) in sorted({(r["method"], r["d"]) for r in rows}, key=lambda k: (k[1], k[0])):
        pts = [(r["n"], r["time_s"]) for r in rows
               if r["method"] == m and r["d"] == d and r["status"] == "ok"]
        k = fit_exponent(pts)
        out.append(dict(method=m, d=d, k=k, n_min=min((n for n, _ in pts), default=None),
                        n_max=max((n for n, _ in pts), default=None), points=len(pts)))
    return out


def pareto(rows):
    """Per (d, n): W_2^2 estimators not dominated in (time, relative error)."""
    out = []
    for d, n in sorted({(r["d"], r["n"]) for r in rows}):
        pts = [r for r in rows if (r["d"], r["n"]) == (d, n) and r["status"] == "ok"
               and r["quantity"] == "W_2^2" and r.get("rel_error") is not None]
        front = [r for r in pts if not any(
            (o["time_s"] <= r["time_s"] and o["rel_error"] <= r["rel_error"])
            and (o["time_s"] < r["time_s"] or o["rel_error"] < r["rel_error"]) for o in pts)]
        front.sort(key=lambda r: r["time_s"])
        if front:
            out.append(dict(d=d, n=n, truth_kind=front[0]["truth_kind"],
                            truth_rel_halfwidth=(front[0]["truth_halfwidth"] or 0.0)
                            / front[0]["truth"],
                            front=[dict(method=r["method"], time_s=r["time_s"],
                                        rel_error=r["rel_error"],
                                        resolved=r["error_resolved"]) for r in front]))
    return out


# ---------------------------------------------------------------- output
def _short(n):
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = sorted({r["d"] for r in rows})
    methods = list(dict.fromkeys(r["method"] for r in rows))
    cmap = plt.get_cmap("tab20")
    colors = {m: cmap(i % 20) for i, m in enumerate(methods)}  # same colour in every panel
    fig, axes = plt.subplots(1, len(dims), figsize=(6.2 * len(dims), 6.4), squeeze=False)
    handles = {}
    for ax, d in zip(axes[0], dims):
        for m in methods:
            pts = sorted((r for r in rows if r["d"] == d and r["method"] == m
                          and r["status"] == "ok" and r.get("rel_error") is not None),
                         key=lambda r: r["n"])
            if not pts:
                continue
            sw = pts[0]["quantity"] != "W_2^2"
            t = [max(r["time_s"], 1e-5) for r in pts]
            e = [max(r["rel_error"], FLOOR) for r in pts]
            ax.plot(t, e, "--" if sw else "-", color=colors[m], lw=1, alpha=0.8)
            for r, ti, ei in zip(pts, t, e):
                interval = r["truth_kind"] == "interval"
                ax.plot(ti, ei, "^" if interval else "o", ms=5, color=colors[m],
                        mfc="none" if sw else colors[m])
                if interval and r["truth_halfwidth"]:
                    u = r["truth_halfwidth"] / r["truth"]
                    ax.plot([ti, ti], [max(ei - u, FLOOR), ei + u], color=colors[m], lw=0.8)
                ax.annotate(_short(r["n"]), (ti, ei), fontsize=6, xytext=(2, 2),
                            textcoords="offset points")
            handles[m] = ax.plot([], [], "o-" if not sw else "o--", color=colors[m],
                                 mfc="none" if sw else colors[m],
                                 label=m + (" [SW_2^2: different quantity]" if sw else ""))[0]
        ax.set(xscale="log", yscale="log", xlabel="CPU time (s, one thread, one core)",
               ylabel="|value - truth| / truth  (truth = W_2^2)",
               title=f"d = {d}: accuracy vs time (labels: n)")
        ax.grid(alpha=0.3, which="both", lw=0.4)
    fig.legend(handles=[handles[m] for m in methods if m in handles], loc="lower center",
               ncol=5, fontsize=7, bbox_to_anchor=(0.5, 0.03))
    fig.text(0.01, 0.005, "o: truth = exact OT value;  ^ with bar: truth = midpoint of the "
             "certified interval (bar = its half-width);  hollow/dashed: sliced W (SW_2^2), not "
             "an estimate of W_2^2; errors below 1e-9 (exact solvers: ~1e-15) drawn at 1e-9",
             fontsize=7)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _g(v, fmt=".3g"):
    return "" if v is None else format(v, fmt)


def markdown(data):
    rows, info, cfg = data["rows"], data["machine"], data["config"]
    L = ["## Estimators: accuracy vs time, otgen vs POT, GeomLoss, scipy", ""]
    if data.get("partial"):
        L += ["**Partial run** (interrupted): only the cases measured before it stopped.", ""]
    L += [
         f"Mode `{data['mode']}`; wall time of this run: {data['wall_s']:.0f} s; command: "
         f"`{data['command']}`.", "",
         "**Timings are single-core**: `time` is the CPU time (`time.process_time`) of the "
         "single-threaded process, pinned to one core that other jobs shared (wall time, which "
         "counts their turns too, is in the JSON as `wall_s`).  "
         f"Machine: {info['cpu']} ({info['cpu_count']} cores, "
         f"this process pinned to cores {info['cpu_affinity']}, torch threads "
         f"{info['torch_threads']}, OMP_NUM_THREADS={info['omp_num_threads']}), "
         f"{_g(info['memory_gb'], '.0f')} GB RAM, no GPU, shared with other jobs (expect "
         "+-20% timing noise).  Versions: python " + info["python"] + ", otgen " + info["otgen"]
         + ", numpy " + info["numpy"] + ", scipy " + info["scipy"] + ", POT " + info["pot"]
         + ", geomloss " + info["geomloss"] + ", pykeops " + str(info["pykeops"]) + ", torch "
         + info["torch"] + ".", "",
         "Data: x ~ N(0, I_d), y ~ N(1, I_d), n points each, uniform weights, cost |x - y|^2 "
         f"(W_2^2).  Sizes {cfg['sizes']}, d in {cfg['dims']}.  Dense methods stop where the "
         f"n x n float64 cost matrix exceeds {cfg['mem_cap_gb']:g} GB; every method stops where "
         f"the CPU time predicted from its fitted exponent exceeds {cfg['budget']:g} s; a run that "
         f"still passes {cfg.get('hard_factor', 2) * cfg['budget']:g} s CPU is interrupted "
         f"(status `stopped`); the run's total wall-time budget is {cfg['total_budget']:g} s.  **Ground truth**: the exact "
         "value (otgen exact / ot.emd2 / scipy assignment) where a dense exact solve ran; "
         "beyond that the intersection of otgen's certified intervals at that size (in practice "
         "`otgen sparse` tol=1e-3): the error is then measured from the interval midpoint and "
         "the interval half-width is the truth's own uncertainty (column `truth ±`); errors "
         "smaller than it are not resolved (marked `unresolved`).  Where no interval is "
         f"narrower than ±{TRUTH_MAX_REL_HALFWIDTH:.0%} (only the Gaussian/sliced bounds ran) "
         "there is no truth and no error.  Sliced methods estimate SW_2^2, a different "
         "quantity (SW_2^2 <= W_2^2, about W_2^2 / d for a shift): their 'error' is their "
         "distance to W_2^2, shown only to place them on the plot.", "",
         "Settings: " + "; ".join(f"`{m}`: {p.get('note')}" for m, (_, p) in METHODS.items()
                                  if p.get("note")) + ".", "",
         "![accuracy vs time](benchmarks-estimators.png)", "",
         "### Fitted scaling exponents (time ~ n^k)", "",
         "Least squares in log-log over the sizes each method ran (>= 2 sizes); small sizes "
         "include fixed overheads, so k is a local slope over the range shown, not an "
         "asymptotic order.", ""]
    exps = data["exponents"]
    dims = sorted({e["d"] for e in exps})
    L += ["| method | " + " | ".join(f"d={d}: k (n range)" for d in dims) + " |",
          "|---|" + "---|" * len(dims)]
    for m in METHODS:
        cells = []
        for d in dims:
            e = next((e for e in exps if e["method"] == m and e["d"] == d), None)
            if e is None or e["points"] == 0:
                cells.append("not run")
            elif e["k"] is None:
                cells.append(f"- (only n={e['n_min']})")
            else:
                cells.append(f"{e['k']:.2f} ({_short(e['n_min'])}-{_short(e['n_max'])})")
        if any(c != "not run" for c in cells):
            L.append(f"| {m} | " + " | ".join(cells) + " |")
    L += ["", "### Pareto front per (d, n)", "",
          "W_2^2 estimators not beaten in both time and error by another method at the same "
          "(d, n), fastest first (error in parentheses).", "",
          "| d | n | truth | front: method time (rel. error) |", "|---|---|---|---|"]
    for p in data["pareto"]:
        tk = p["truth_kind"] + (f" (±{p['truth_rel_halfwidth']:.1e} rel.)"
                                if p["truth_kind"] == "interval" else "")
        L.append(f"| {p['d']} | {p['n']} | {tk} | " + "; ".join(
            f"{f['method']} {f['time_s']:.3g} s ("
            + (f"{f['rel_error']:.1e}" if f["resolved"] else
               f"<= {p['truth_rel_halfwidth']:.1e}, unresolved") + ")" for f in p["front"])
            + " |")
    L += ["", "### All runs", "",
          "| d | n | method | value | truth ± | rel. error | certified interval (rel. width) | "
          "time (s) | vs ot.emd2 | status |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ok = r["status"] == "ok"
        tr = r["truth_kind"] if r.get("truth") is None else (
            f"{r['truth']:.6g}" + ("" if r["truth_kind"] == "exact"
                                   else f" ± {r['truth_halfwidth']:.2g}"))
        iv = (f"[{r['lower']:.6g}, {r['upper']:.6g}] ({r['rel_gap']:.1e})"
              if ok and r.get("lower") is not None else "")
        name = r["method"] + (f" ({r['used']})" if ok and r.get("used") and r["used"] not in
                              r["method"] else "")
        if r["quantity"] != "W_2^2":
            name += " [SW_2^2]"
        status = "ok" if ok else r["status"]
        if ok and r.get("contains_truth") is False:
            status = "**interval misses truth**"
        L.append(f"| {r['d']} | {r['n']} | {name} | {_g(r.get('value'), '.6g')} | {tr} | "
                 f"{_g(r.get('rel_error'), '.1e')}"
                 f"{'' if r.get('error_resolved', True) else ' (unresolved)'} | {iv} | "
                 f"{_g(r.get('time_s'), '.3g')} | "
                 f"{_g(r.get('speedup_vs_emd2'), '.2f')}{'x' if r.get('speedup_vs_emd2') else ''}"
                 f" | {status} |")
    return "\n".join(L) + "\n"


def write(data, out):
    out.mkdir(parents=True, exist_ok=True)
    for d, n in {(r["d"], r["n"]) for r in data["rows"]}:
        finalize([r for r in data["rows"] if (r["d"], r["n"]) == (d, n)])
    data["exponents"] = exponents(data["rows"])
    data["pareto"] = pareto(data["rows"])
    (out / "benchmarks_estimators.json").write_text(json.dumps(data, indent=1))
    plot(data["rows"], out / "benchmarks-estimators.png")
    (out / "benchmarks-estimators.md").write_text(markdown(data))


MODES = {
    "full": dict(sizes=[1000, 2000, 5000, 10000, 20000, 50000, 100000], dims=[2, 8, 64],
                 budget=100.0, total_budget=3000.0),
    "quick": dict(sizes=[1000, 2000], dims=[2, 8, 64], budget=60.0, total_budget=900.0),
    "tiny": dict(sizes=[100, 200], dims=[2, 8], budget=20.0, total_budget=120.0),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="n in {1000, 2000}")
    g.add_argument("--tiny", action="store_true", help="n in {100, 200}, d in {2, 8}, no KeOps "
                   "backends: seconds (smoke test)")
    ap.add_argument("--out", type=Path, default=DOCS, help="output folder (default docs/)")
    ap.add_argument("--only-n", type=int, default=None, help="run only this n")
    ap.add_argument("--dims", type=int, nargs="+", default=None)
    ap.add_argument("--budget", type=float, default=None, help="per-run time budget (s)")
    ap.add_argument("--total-budget", type=float, default=None, help="whole-run budget (s)")
    ap.add_argument("--mem-cap-gb", type=float, default=4.0,
                    help="largest dense n x n float64 cost matrix (GB)")
    ap.add_argument("--replot", action="store_true",
                    help="redraw the PNG and markdown from the saved JSON without re-measuring")
    args = ap.parse_args(argv)
    if args.replot:
        data = json.loads((args.out / "benchmarks_estimators.json").read_text())
        write(data, args.out)
        return
    import torch
    torch.set_num_threads(1)
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    cfg = dict(MODES[mode], mem_cap_gb=args.mem_cap_gb, hard_factor=2.0)
    for key in ("budget", "total_budget", "dims"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    if args.only_n:
        cfg["sizes"] = [args.only_n]
    names = [m for m, (_, p) in METHODS.items() if not (mode == "tiny" and p.get("keops"))]
    t0 = time.perf_counter()
    rows, history = [], {}
    for d in cfg["dims"]:
        warm_up([m for m in names if d <= METHODS[m][1].get("max_d", d)], d)
    warm = time.perf_counter() - t0
    print(f"warm-up {warm:.0f} s", flush=True)
    t0 = time.perf_counter()
    info = machine_info()
    prefix = f"OMP_NUM_THREADS={info['omp_num_threads']} "
    if info["cpu_affinity"] and len(info["cpu_affinity"]) < (os.cpu_count() or 1):
        prefix += "taskset -c " + ",".join(map(str, info["cpu_affinity"])) + " "
    data = dict(mode=mode, command=prefix + "python -m benchmarks.estimators " + " ".join(
        sys.argv[1:] if argv is None else argv), config=cfg, machine=info, partial=True,
        warmup_s=warm, rows=rows)
    args.out.mkdir(parents=True, exist_ok=True)
    for n in cfg["sizes"]:
        for d in cfg["dims"]:
            use = [m for m in names if d <= METHODS[m][1].get("max_d", d)]
            rows.extend(run_case(n, d, use, history, cfg, t0))
            data["wall_s"] = time.perf_counter() - t0 + warm
            # saved after every case: `--replot` works on an interrupted run
            (args.out / "benchmarks_estimators.json").write_text(json.dumps(data, indent=1))
    data.update(partial=False, wall_s=time.perf_counter() - t0 + warm)
    write(data, args.out)
    print(f"wall {data['wall_s']:.0f} s; wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
