"""Large-n benchmark: time and peak memory of O(n)-memory Sinkhorn, otgen against GeomLoss.

    python -m benchmarks.large_n            # full: n in {4k, 8k, 16k, 100k}, d in {2, 8, 64}
    python -m benchmarks.large_n --quick    # n in {2,000, 5,000}, d in {2, 8, 64} (a few min)
    python -m benchmarks.large_n --tiny --out DIR   # smoke test (the test suite runs this)

Every measurement runs in a fresh subprocess, so its peak resident memory (``ru_maxrss``,
``resource`` module; torch's CPU allocations are invisible to ``tracemalloc``) is its own.  The
reported ``extra_mb`` is the peak during the solve minus the high-water mark just before it
(imports and data included), i.e. what the solver itself needed.

Solvers, all on x ~ N(0, I_d), y ~ N(1, I_d) in float64, p = 2:

* ``otgen-sinkhorn``: ``wasserstein(method="sinkhorn", tol=TOL)``, certified interval;
  reductions on torch blocks on CPU (KeOps when the row sets ``"device": "cuda"``), never a
  dense (n, n) matrix at large n.
* ``otgen-multiscale`` (d <= 3): the same with ``backend="multiscale"``: GeomLoss's
  coarse-to-fine potentials, finished and certified on a block-sparse KeOps kernel.
* ``otgen-sparse``: ``wasserstein(method="sparse", tol=TOL)``, certified, the CPU default.
* ``otgen-quantized`` (d <= 3): ``wasserstein(method="quantized", tol=...)``, certified, the
  ``auto`` choice from n m >= 4.1e9 (rows added with ``"tol": 0.01``, the issue's target).
* ``geomloss-online`` / ``geomloss-multiscale`` (d <= 3) / ``geomloss-tensorized``:
  ``SamplesLoss("sinkhorn", p=2, blur=BLUR, scaling=0.5, debias=False)`` (GeomLoss defaults
  but the blur), value doubled to the cost |x - y|^2; no interval.

Each (solver, d) ladder stops once the time predicted for the next n from the fitted exponent
exceeds the budget (recorded as skipped).  Writes benchmarks_large_n.json,
benchmarks-large-n.md and benchmarks-large-n.png into docs/ (or ``--out``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .common import fit_exponent, git_commit, machine_info, peak_mb, predict, versions_line

DOCS = Path(__file__).resolve().parent.parent / "docs"
TOL = 0.05
BLUR = 0.05
SOLVERS = ("otgen-sinkhorn", "otgen-multiscale", "otgen-sparse", "otgen-quantized",
           "geomloss-online",
           "geomloss-multiscale", "geomloss-tensorized")
#: dense (n, n) float64 matrices above this many bytes are not attempted
DENSE_BYTES_MAX = 4e9
CONFIGS = {
    # tiny: no KeOps solver, so a fresh machine compiles nothing (the test suite runs it);
    # geomloss-tensorized at the small size only (each row is a fresh process: ~4 s)
    "tiny": dict(sizes=(300, 600), dims=(2,), budget_s=60,
                 solvers=("otgen-sinkhorn", "otgen-sparse", "geomloss-tensorized"),
                 only={"geomloss-tensorized": (300,)}),
    "quick": dict(sizes=(2_000, 5_000), dims=(2, 8, 64), budget_s=120),
    "full": dict(sizes=(4_000, 8_000, 16_000, 100_000), dims=(2, 8, 64), budget_s=600),
}


def clouds(n: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 1.0


def _warm_up(solver: str, d: int, device: str = "cpu"):
    """Compile the KeOps formulas for this d outside the timed region (cached on disk)."""
    import torch

    x, y = clouds(64, d, seed=1)
    if solver == "otgen-sinkhorn" and device != "cpu":
        from otgen.theory import wasserstein

        wasserstein(x, y, method="sinkhorn", eps=1.0, backend="keops", device=device)
    elif solver == "otgen-multiscale":
        from otgen.theory import wasserstein

        wasserstein(x, y, method="sinkhorn", eps=1.0, backend="multiscale")
    elif solver in ("geomloss-online", "geomloss-multiscale"):
        _geomloss(torch.as_tensor(x), torch.as_tensor(y), solver.split("-")[1])


def _geomloss(xt, yt, backend):
    from geomloss import SamplesLoss

    loss = SamplesLoss("sinkhorn", p=2, blur=BLUR, scaling=0.5, debias=False, backend=backend)
    return 2.0 * float(loss(xt, yt))


def worker(spec: dict) -> dict:
    """Run one (solver, n, d) measurement in this process; return the row."""
    import warnings

    import torch

    threads = os.environ.get("OTGEN_BENCH_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    solver, n, d = spec["solver"], spec["n"], spec["d"]
    _warm_up(solver, d, spec.get("device", "cpu"))
    x, y = clouds(n, d)
    row = dict(solver=solver, n=n, d=d,
               **{k: spec[k] for k in ("eps", "max_iter", "device", "tol") if k in spec})
    commit = git_commit()  # the code this process loaded, not what HEAD is when it ends
    base = peak_mb()
    t0 = time.perf_counter()
    if solver.startswith("otgen-"):
        from otgen.theory import wasserstein

        # an explicit eps / max_iter bounds the work (the interval stays certified, only wider)
        # "device": "cuda" runs otgen on a GPU (KeOps on CUDA); the row records it
        opts = {k: spec[k] for k in ("eps", "max_iter", "device") if k in spec}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if solver == "otgen-multiscale":
                opts.update(method="sinkhorn", backend="multiscale")
            elif solver == "otgen-sinkhorn":
                # the online/blocks ladder (the auto backend is multiscale at d <= 3, n >= 31k)
                from otgen.theory.costs import DENSE_MAX, keops_pays

                dev = torch.device(opts.get("device", "cpu"))
                online = "keops" if keops_pays(dev) else "blocks"
                opts.setdefault("backend", online if n * n > DENSE_MAX else "auto")
            r = wasserstein(x, y, p=2, **{"method": solver.split("-")[1], **opts},
                            tol=None if "eps" in opts else spec.get("tol", TOL), verbose=True)
        row.update(value=r.value, lower=r.lower, upper=r.upper, converged=bool(r.converged),
                   backend=r.info.get("backend", r.method), n_iter=r.n_iter,
                   warnings=[str(w.message)[:160] for w in caught])
    else:
        xt, yt = torch.as_tensor(x), torch.as_tensor(y)
        row.update(value=_geomloss(xt, yt, solver.split("-")[1]), backend=solver.split("-")[1])
    row["time_s"] = time.perf_counter() - t0
    row["commit"] = commit
    row["peak_mb"] = peak_mb()
    row["extra_mb"] = max(row["peak_mb"] - base, 0.0)
    return row


def _applicable(solver: str, n: int, d: int) -> str | None:
    """Why ``solver`` is not run at (n, d), or None."""
    if solver in ("geomloss-multiscale", "otgen-multiscale") and d > 3:
        return "multiscale needs d <= 3"
    if solver == "otgen-quantized" and d > 3:
        return "quantized needs d <= 3"
    if solver == "geomloss-tensorized" and 8.0 * n * n * 3 > DENSE_BYTES_MAX:
        return f"dense (n, n) matrices exceed {DENSE_BYTES_MAX / 1e9:.0f} GB"
    return None


#: the running worker's stderr (otgen's progress lines, warnings, tracebacks), one file per
#: benchmark process, overwritten by each row
PROGRESS_LOG = Path(tempfile.gettempdir()) / f"otgen-large-n-progress-{os.getpid()}.log"


def _measure(spec: dict, timeout=None) -> dict:
    """Run one ``worker(spec)`` in a fresh process and return its row.

    The worker's stderr goes to :data:`PROGRESS_LOG` (``tail -f`` it to follow a long row);
    raises ``CalledProcessError`` with that stderr on failure.
    """
    cmd = [sys.executable, "-m", "benchmarks.large_n", "--worker", json.dumps(spec)]
    with open(PROGRESS_LOG, "w+") as err:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True,
                              timeout=timeout, cwd=Path(__file__).resolve().parent.parent)
        err.seek(0)
        if proc.returncode:
            raise subprocess.CalledProcessError(proc.returncode, cmd, proc.stdout, err.read())
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(cfg: dict, solvers=SOLVERS, log=print) -> list[dict]:
    rows = []
    log(f"progress of the running row: tail -f {PROGRESS_LOG}")
    for d in cfg["dims"]:
        for solver in solvers:
            done = []
            for n in cfg["sizes"]:
                why = _applicable(solver, n, d)
                if why is None and n not in cfg.get("only", {}).get(solver, (n,)):
                    why = "not in this mode's ladder"
                if why is None and done:
                    expected = predict([(r["n"], r["time_s"]) for r in done], n)
                    if expected > cfg["budget_s"]:
                        why = f"predicted {expected:.0f} s > budget {cfg['budget_s']} s"
                if why is not None:
                    rows.append(dict(solver=solver, n=n, d=d, skipped=why))
                    log(f"d={d:>2} n={n:>6} {solver:<20} skipped: {why}")
                    continue
                try:
                    row = _measure(dict(solver=solver, n=n, d=d),
                                   timeout=3 * cfg["budget_s"] + 120)
                except subprocess.TimeoutExpired:
                    row = dict(solver=solver, n=n, d=d, skipped="timed out")
                except subprocess.CalledProcessError as exc:
                    row = dict(solver=solver, n=n, d=d,
                               skipped="failed: " + (exc.stderr or "").strip()[-200:])
                rows.append(row)
                if "skipped" in row:
                    log(f"d={d:>2} n={n:>6} {solver:<20} {row['skipped']}")
                    continue
                done.append(row)
                log(f"d={d:>2} n={n:>6} {solver:<20} {row['time_s']:8.1f} s "
                    f"+{row['extra_mb']:8.1f} MB  value {row['value']:.5g}"
                    + (f" in [{row['lower']:.5g}, {row['upper']:.5g}]" if "lower" in row else ""))
    return rows


def _ladder(row) -> bool:
    """A measured row of the tol-driven ladder (not skipped, no explicit eps / max_iter)."""
    return "skipped" not in row and "eps" not in row and "max_iter" not in row


def exponents(rows):
    """{(solver, d): (time exponent, memory exponent)} over the measured sizes."""
    rows = _latest(rows)
    out = {}
    for key in sorted({(r["solver"], r["d"]) for r in rows}):
        ok = [r for r in rows if (r["solver"], r["d"]) == key and _ladder(r)]
        out[key] = (fit_exponent([(r["n"], r["time_s"]) for r in ok]),
                    fit_exponent([(r["n"], max(r["extra_mb"], 1.0)) for r in ok]))
    return out


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _latest(rows)
    dims = sorted({r["d"] for r in rows})
    fig, axes = plt.subplots(2, len(dims), figsize=(4.2 * len(dims), 7), squeeze=False)
    for c, d in enumerate(dims):
        for solver in SOLVERS:
            ok = [r for r in rows if r["d"] == d and r["solver"] == solver and _ladder(r)]
            extra = [r for r in rows if r["d"] == d and r["solver"] == solver
                     and "skipped" not in r and not _ladder(r)]
            if ok:
                ns = [r["n"] for r in ok]
                # one colour per solver in every panel (the legend is drawn once)
                colour = f"C{SOLVERS.index(solver)}"
                axes[0, c].loglog(ns, [r["time_s"] for r in ok], "o-", color=colour, label=solver)
                axes[1, c].loglog(ns, [max(r["extra_mb"], 1.0) for r in ok], "o-",
                                  color=colour, label=solver)
            for r in extra:  # bounded-work rows (explicit eps / max_iter): stars
                axes[0, c].loglog([r["n"]], [r["time_s"]], "k*", ms=10)
                axes[1, c].loglog([r["n"]], [max(r["extra_mb"], 1.0)], "k*", ms=10)
        axes[0, c].set_title(f"d = {d}")
        axes[0, c].set_ylabel("time (s)")
        axes[1, c].set_ylabel("extra peak memory (MB)")
        axes[1, c].set_xlabel("n = m")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _latest(rows):
    """Drop superseded rows: a ladder point (solver, n, d) measured again by a later
    ``--add-row`` (e.g. after a change to the solver) keeps only its latest measurement, and a
    skipped row goes once the point is measured."""
    last = {}
    for i, r in enumerate(rows):
        if _ladder(r):
            last[(r["solver"], r["n"], r["d"])] = i
    return [r for i, r in enumerate(rows)
            if (r["solver"], r["n"], r["d"]) not in last
            or not (_ladder(r) or "skipped" in r) or last[(r["solver"], r["n"], r["d"])] == i]


def _table_order(rows):
    """Rows by d, solver, bounded-work last, n (superseded rows dropped, see _latest)."""
    keep = _latest(rows)
    rank = {s: i for i, s in enumerate(SOLVERS)}
    return sorted(keep, key=lambda r: (r["d"], rank.get(r["solver"], len(rank)),
                                       not _ladder(r) and "skipped" not in r, r["n"]))


def markdown(rows, info, wall, mode):
    ex = exponents(rows)
    lines = ["# Large-n benchmark: O(n)-memory Sinkhorn against GeomLoss", "",
             f"`python -m benchmarks.large_n{'' if mode == 'full' else ' --' + mode}`, "
             f"wall time {wall / 60:.1f} min. {versions_line(info)}", "",
             f"x ~ N(0, I_d), y ~ N(1, I_d), float64, p = 2. otgen: `wasserstein(method=..., "
             f"tol={TOL})`, certified interval on W_2^2. GeomLoss: `SamplesLoss('sinkhorn', "
             f"blur={BLUR}, scaling=0.5, debias=False)` x 2 (its cost is |x-y|^2/2), no "
             "interval. otgen-multiscale is `method='sinkhorn', backend='multiscale'` (what "
             "`auto` picks for d <= 3 from n m >= 1e9). `extra MB` = peak resident memory "
             "during the solve minus the peak before it (a fresh process per row). Rows with an "
             "explicit eps / max_iter bound the work (stars in the plot; their interval is "
             "still certified) and are left out of the exponent fits. Peak RSS also counts "
             "memory that glibc's allocator keeps after torch frees it (its mmap threshold "
             "grows with the block size): rerun with `MALLOC_MMAP_THRESHOLD_=1048576` to see "
             "live memory only (otgen-sinkhorn, d = 8, n = 16,000, explicit eps: +160 MB "
             "instead of +690 MB, measured once), at the price of slower allocations. A point "
             "measured again with `--add-row` (after a solver change) shows only its latest "
             "row; the JSON records the commit of rows measured since that was added.", "",
             "| d | n | solver | backend | time (s) | extra MB | value | certified interval "
             "| rel. width |", "|---|---|---|---|---|---|---|---|---|"]
    for r in _table_order(rows):
        if "skipped" in r:
            lines.append(f"| {r['d']} | {r['n']:,} | {r['solver']} | | | | skipped: "
                         f"{r['skipped']} | | |")
            continue
        interval = width = ""
        if "lower" in r:
            interval = f"[{r['lower']:.5g}, {r['upper']:.5g}]"
            width = f"{(r['upper'] - r['lower']) / r['upper']:.1e}" + (
                "" if r["converged"] else " (not converged)")
        label = r["solver"] + "".join(f", {k}={r[k]}"
                                      for k in ("eps", "max_iter", "device", "tol") if k in r)
        lines.append(f"| {r['d']} | {r['n']:,} | {label} | {r['backend']} | "
                     f"{r['time_s']:.1f} | {r['extra_mb']:.0f} | {r['value']:.5g} | "
                     f"{interval} | {width} |")
    lines += _million_lines(rows)
    lines += ["", "Fitted exponents (time ~ n^k, extra memory ~ n^k; least squares in log-log "
              "over the measured sizes):", "", "| solver | d | time k | memory k |",
              "|---|---|---|---|"]
    for (solver, d), (kt, km) in ex.items():
        fmt = (lambda k: "" if k is None else f"{k:.2f}")
        lines.append(f"| {solver} | {d} | {fmt(kt)} | {fmt(km)} |")
    lines += ["", "![time and memory](benchmarks-large-n.png)", ""]
    return "\n".join(lines)


def _million_lines(rows) -> list[str]:
    """The issue's 1e6-point target: each certified row at n >= 1e6 next to GeomLoss multiscale
    on the same data (measured if a row exists, else extrapolated from its measured sizes)."""
    rows = _latest(rows)
    out = []
    for r in rows:
        if r["n"] < 10**6 or "lower" not in r or not _ladder(r):
            continue
        gl = [q for q in rows if q["solver"] == "geomloss-multiscale" and q["d"] == r["d"]
              and _ladder(q)]
        same = [q for q in gl if q["n"] == r["n"]]
        stopped = [q for q in rows if q["solver"] == "geomloss-multiscale" and q["d"] == r["d"]
                   and q["n"] == r["n"] and "skipped" in q]
        if same:
            ref = f"measured {same[0]['time_s']:.0f} s, +{same[0]['extra_mb']:.0f} MB"
        elif stopped:
            ref = stopped[0]["skipped"]
        elif gl:
            pts = [(q["n"], q["time_s"]) for q in gl]
            ref = (f"not run: predicted {predict(pts, r['n']):,.0f} s from its rows at n = "
                   + ", ".join(f"{q['n']:,}" for q in gl)
                   + f" (time ~ n^{fit_exponent(pts):.2f})")
        else:
            ref = "not measured"
        width = (r["upper"] - r["lower"]) / r["upper"]
        out.append(f"- **n = {r['n']:,}, d = {r['d']}**: {r['solver']} {r['time_s']:.0f} s, "
                   f"+{r['extra_mb']:.0f} MB (peak {r['peak_mb']:.0f} MB), certified relative "
                   f"width {width:.1e}; GeomLoss multiscale on the same data (no interval): "
                   f"{ref}.")
    return ["", "At a million points:", ""] + out if out else []


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--out", type=Path, default=DOCS)
    ap.add_argument("--replot", action="store_true", help="rewrite md/png from the JSON")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--add-row", metavar="JSON",
                    help='measure one more row into the existing JSON, e.g. \'{"solver": '
                         '"otgen-sinkhorn", "n": 100000, "d": 2, "eps": 0.5, "max_iter": 5}\'')
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    args.out.mkdir(parents=True, exist_ok=True)
    js = args.out / "benchmarks_large_n.json"
    if args.replot or args.add_row:
        data = json.loads(js.read_text())
        rows, info, wall, mode = data["rows"], data["machine"], data["wall_s"], data["mode"]
        if args.add_row:
            print(f"progress: tail -f {PROGRESS_LOG}", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            row = _measure(json.loads(args.add_row))
            row["added"] = True
            rows.append(row)
            wall += time.perf_counter() - t0
            data.update(rows=rows, wall_s=wall)
            js.write_text(json.dumps(data, indent=1))
    else:
        t0 = time.perf_counter()
        cfg = CONFIGS[mode]
        rows = run(cfg, solvers=cfg.get("solvers", SOLVERS))
        wall = time.perf_counter() - t0
        info = machine_info()
        js.write_text(json.dumps(dict(mode=mode, wall_s=wall, machine=info, tol=TOL,
                                      blur=BLUR, rows=rows), indent=1))
    plot(rows, args.out / "benchmarks-large-n.png")
    (args.out / "benchmarks-large-n.md").write_text(markdown(rows, info, wall, mode))


if __name__ == "__main__":
    main()
