"""Certified OT on every data shape: ``wasserstein(tol=0.01)`` against POT and GeomLoss.

    OMP_NUM_THREADS=1 taskset -c 1 python -m benchmarks.families
                                             # full: n in {5k, 10k, 20k}, d in {2, 64}
    python -m benchmarks.families --quick    # n in {2k, 5k}, d in {2, 64} (minutes)
    python -m benchmarks.families --tiny --out DIR   # seconds (the smoke test)
    python -m benchmarks.families --sizes 1000000 --dims 2 --solvers "otgen auto" \\
        "geomloss multiscale" --budget 900           # the million-point row

Data families: :func:`otgen.testing.families.data_family` (Gaussian, Student-t(3), 12 tight
clusters, ring vs square, log-normal, digits), x and y of n points each, uniform weights, p = 2.

Contenders, each in a fresh process (wall time and peak RSS are its own):
``otgen auto`` (``wasserstein(x, y, tol=0.01)``, certified interval), ``ot.emd2`` (network
simplex on ``ot.dist``: the exact value every row is checked against), ``ot.emd2_lazy`` (POT's
O(n + m)-memory exact solver) and ``geomloss multiscale`` (d <= 3, blur = 1% of the data's
spread, scaling 0.9, no interval).  A ladder stops once the time predicted for the next n
exceeds ``--budget``.  Writes ``benchmarks_families.json``, ``benchmarks-families.md`` and
``benchmarks-families.png`` into ``docs/`` (or ``--out``).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from otgen.testing.families import FAMILIES, data_family

from .common import fit_exponent, git_commit, machine_info, peak_mb, predict, versions_line

DOCS = Path(__file__).resolve().parent.parent / "docs"
SOLVERS = ("otgen auto", "ot.emd2", "ot.emd2_lazy", "geomloss multiscale")
TOL = 0.01
#: ot.emd2_lazy recomputes costs at every pricing step: 15.4 s against ot.emd2's 9.3 s at
#: n = 5,000, d = 2 (docs/benchmarks.md); it is run up to this n only
LAZY_MAX = 10_000
CONFIGS = {
    "tiny": dict(sizes=(300,), dims=(2,), budget=60, families=("gaussian", "clusters"),
                 solvers=("otgen auto", "ot.emd2")),
    "quick": dict(sizes=(2_000, 5_000), dims=(2, 64), budget=120, families=FAMILIES,
                  solvers=SOLVERS),
    "full": dict(sizes=(5_000, 10_000, 20_000), dims=(2, 64), budget=400, families=FAMILIES,
                 solvers=SOLVERS),
}


sample = data_family  # the benchmark's name for it


# ---------------------------------------------------------------- one measurement
def _run_solver(solver, x, y):
    import warnings

    if solver == "otgen auto":
        from otgen.theory import wasserstein

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = wasserstein(x, y, p=2, tol=TOL)
        return dict(value=r.value, lower=r.lower, upper=r.upper, method=r.method,
                    converged=bool(r.converged), rounds=r.info.get("rounds"),
                    edges=r.info.get("edges"), warnings=[str(w.message)[:160] for w in caught])
    import ot

    if solver == "ot.emd2":
        return dict(value=float(ot.emd2([], [], ot.dist(x, y), numItermax=10**9)))
    if solver == "ot.emd2_lazy":
        return dict(value=float(ot.emd2_lazy(x, y, numItermax=10**9, return_matrix=False)))
    if solver == "geomloss multiscale":
        import torch
        from geomloss import SamplesLoss

        blur = 0.01 * float(np.concatenate([x, y]).std())
        loss = SamplesLoss("sinkhorn", p=2, blur=blur, scaling=0.9, debias=False,
                           backend="multiscale")
        return dict(value=2.0 * float(loss(torch.as_tensor(x), torch.as_tensor(y))))
    raise ValueError(solver)


def worker(spec: dict) -> dict:
    """One (family, solver, n, d) row, measured in this (fresh) process."""
    x, y = sample(spec["family"], spec["n"], spec["d"])
    # imports, first-call set-up and KeOps compilation outside the timed region
    _run_solver(spec["solver"], *sample(spec["family"], 200, spec["d"], seed=1))
    base = peak_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    row = dict(spec, **_run_solver(spec["solver"], x, y))
    row.update(time_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0,
               extra_mb=max(peak_mb() - base, 0.0), peak_mb=peak_mb(), commit=git_commit())
    return row


def _applicable(solver: str, n: int, d: int) -> str | None:
    if solver == "geomloss multiscale" and d > 3:
        return "multiscale needs d <= 3"
    if solver == "ot.emd2" and 8.0 * n * n > 6e9:
        return "dense cost matrix > 6 GB"
    if solver == "ot.emd2_lazy" and n > LAZY_MAX:
        return f"n > {LAZY_MAX:,} (slower than ot.emd2 at every measured n)"
    return None


def _measure(spec: dict, timeout: float) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.families", "--worker", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              cwd=Path(__file__).resolve().parent.parent)
    except subprocess.TimeoutExpired:
        return dict(spec, skipped=f"timed out after {timeout:.0f} s")
    if proc.returncode:
        return dict(spec, skipped="failed: " + proc.stderr.strip()[-200:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(cfg: dict, log=print) -> list[dict]:
    rows = []
    for d in cfg["dims"]:
        for family in cfg["families"]:
            for solver in cfg["solvers"]:
                done = []
                for n in cfg["sizes"]:
                    spec = dict(family=family, solver=solver, n=n, d=d)
                    why = _applicable(solver, n, d)
                    expected = predict([(r["n"], r["time_s"]) for r in done], n)
                    if why is None and done and expected > cfg["budget"]:
                        why = f"predicted {expected:.0f} s > budget {cfg['budget']} s"
                    row = dict(spec, skipped=why) if why else _measure(spec, 3 * cfg["budget"])
                    rows.append(row)
                    if "skipped" not in row:
                        done.append(row)
                    log(_line(row))
            _compare(rows)
    return rows


def _line(r: dict) -> str:
    head = f"d={r['d']:>2} n={r['n']:>7} {r['family']:<11} {r['solver']:<19}"
    if "skipped" in r:
        return f"{head} skipped: {r['skipped']}"
    iv = f" in [{r['lower']:.6g}, {r['upper']:.6g}]" if "lower" in r else ""
    return f"{head} {r['time_s']:8.3g} s {r['peak_mb']:7.0f} MB value {r['value']:.6g}{iv}"


def _compare(rows):
    """Speed-up of every row against ot.emd2 of the same case, and interval checks."""
    ref = {(r["family"], r["n"], r["d"]): r for r in rows
           if r["solver"] == "ot.emd2" and "skipped" not in r}
    for r in rows:
        e = ref.get((r["family"], r["n"], r["d"]))
        if e is None or "skipped" in r:
            continue
        r["speedup_vs_emd2"] = e["time_s"] / max(r["time_s"], 1e-9)
        if "lower" in r:
            slack = 1e-9 * abs(e["value"])  # POT's own float rounding of the exact value
            r["contains_emd2"] = bool(r["lower"] - slack <= e["value"] <= r["upper"] + slack)
            r["rel_gap"] = (r["upper"] - r["lower"]) / r["upper"] if r["upper"] else 0.0


def exponents(rows) -> list[dict]:
    out = []
    for key in sorted({(r["family"], r["solver"], r["d"]) for r in rows}):
        pts = [(r["n"], r["time_s"]) for r in rows if "skipped" not in r
               and (r["family"], r["solver"], r["d"]) == key]
        out.append(dict(family=key[0], solver=key[1], d=key[2], k=fit_exponent(pts),
                        sizes=sorted(n for n, _ in pts)))
    return out


# ---------------------------------------------------------------- report
def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = sorted({r["d"] for r in rows})
    fams = [f for f in FAMILIES if any(r["family"] == f for r in rows)]
    fig, axes = plt.subplots(len(dims), len(fams), figsize=(3.2 * len(fams), 3.0 * len(dims)),
                             squeeze=False)
    for ax_row, d in zip(axes, dims):
        for ax, fam in zip(ax_row, fams):
            for solver, style in zip(SOLVERS, ("o-", "s--", "^:", "d-.")):
                pts = sorted((r["n"], r["time_s"]) for r in rows if "skipped" not in r and
                             (r["family"], r["solver"], r["d"]) == (fam, solver, d))
                if pts:
                    ax.loglog(*zip(*pts), style, label=solver, ms=4)
            ax.set_title(f"{fam}, d={d}", fontsize=9)
            ax.set_xlabel("n = m", fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("wall time (s)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(rows, info, mode) -> str:
    out = ["# Benchmark: certified OT on every data shape", "",
           f"`python -m benchmarks.families{'' if mode == 'full' else ' --' + mode}` "
           f"(re-run to refresh). {versions_line(info)}", "",
           f"`otgen auto` is `wasserstein(x, y, p=2, tol={TOL})`; speed-up = ot.emd2's wall "
           "time / the row's, same machine, same run; `ok` = the certified interval contains "
           "ot.emd2's value. Peak = the worker process's peak RSS.", "",
           "| d | n | family | solver | time (s) | peak (MB) | speed-up vs emd2 | value | "
           "interval (rel. width) | ok |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        head = f"| {r['d']} | {r['n']:,} | {r['family']} | {r['solver']} |"
        if "skipped" in r:
            out.append(head + f" skipped: {r['skipped']} | | | | | |")
            continue
        sp = r.get("speedup_vs_emd2")
        iv = (f"[{r['lower']:.6g}, {r['upper']:.6g}] ({r['rel_gap']:.1e})"
              if r.get("rel_gap") is not None else
              (f"[{r['lower']:.6g}, {r['upper']:.6g}]" if "lower" in r else ""))
        ok = {True: "yes", False: "**NO**"}.get(r.get("contains_emd2"), "")
        out.append(head + f" {r['time_s']:.3g} | {r['peak_mb']:.0f} | "
                   + (f"{sp:.1f}x" if sp else "") + f" | {r['value']:.6g} | {iv} | {ok} |")
    out += ["", "## Time exponents (least squares over the measured n)", "",
            "| d | family | solver | exponent | sizes |", "|---|---|---|---|---|"]
    for e in exponents(rows):
        if e["k"] is not None:
            out.append(f"| {e['d']} | {e['family']} | {e['solver']} | {e['k']:.2f} | "
                       f"{', '.join(f'{n:,}' for n in e['sizes'])} |")
    out += ["", "![time vs n per family](benchmarks-families.png)", ""]
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true")
    mode.add_argument("--tiny", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--sizes", type=int, nargs="+")
    ap.add_argument("--dims", type=int, nargs="+")
    ap.add_argument("--families", nargs="+", choices=FAMILIES)
    ap.add_argument("--solvers", nargs="+", choices=SOLVERS)
    ap.add_argument("--budget", type=float, help="seconds per row before a ladder stops")
    ap.add_argument("--append", action="store_true",
                    help="merge into the saved JSON (re-measured rows replace their old ones)")
    ap.add_argument("--out", type=Path, default=DOCS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    name = "tiny" if args.tiny else "quick" if args.quick else "full"
    cfg = dict(CONFIGS[name])
    for key in ("sizes", "dims", "families", "solvers", "budget"):
        if getattr(args, key):
            cfg[key] = getattr(args, key)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "benchmarks_families.json"
    old = json.loads(path.read_text())["rows"] if args.append and path.exists() else []
    new = run(cfg)
    key = lambda r: (r["family"], r["solver"], r["n"], r["d"])  # noqa: E731
    fresh = {key(r) for r in new}
    rows = [r for r in old if key(r) not in fresh] + new  # re-measured rows replace old ones
    _compare(rows)
    info = machine_info()
    path.write_text(json.dumps(dict(mode=name, machine=info, rows=rows), indent=1))
    plot(rows, args.out / "benchmarks-families.png")
    (args.out / "benchmarks-families.md").write_text(markdown(rows, info, name))


if __name__ == "__main__":
    main()
