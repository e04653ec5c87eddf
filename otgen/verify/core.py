"""Check records, the registry, the runner and the report formats of ``otgen verify``."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable

REGISTRY: list[tuple[str, Callable]] = []


@dataclass
class Check:
    r"""One verified claim: the worst error over ``instances`` random instances vs a tolerance.

    A claim "A == B" is checked on random instances k = 1..N; the check passes when
    :math:`\max_k |A_k - B_k| \le \mathrm{tolerance}` (errors are in the units of the claim,
    usually relative).

    Attributes
    ----------
    name : str
        The claim, as printed by ``otgen verify``.
    instances : int
        Number N of instances checked.
    max_error : float
        Worst error over the instances (inf when the check crashed).
    tolerance : float
        Largest accepted error.
    passed : bool
        ``max_error <= tolerance``.
    detail : str
        Free text (the worst instance, an exception, ...).
    time_s : float
        Wall time of the check, in seconds (set by :func:`run_checks`).

    Examples
    --------
    >>> c = Check("gaussian_w2 closed form", instances=3, max_error=1e-12, tolerance=1e-9,
    ...           passed=True)
    >>> c.to_dict()["passed"], c.time_s
    (True, 0.0)
    """

    name: str
    instances: int
    max_error: float
    tolerance: float
    passed: bool
    detail: str = ""
    time_s: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def register(name: str):
    """Decorator adding a check ``f(seed) -> Check`` to the registry under ``name``.

    Parameters
    ----------
    name : str
        The claim's name; :func:`run_checks` selects checks by substrings of it.

    Returns
    -------
    callable
        The decorator; it returns the function unchanged.

    Examples
    --------
    >>> @register("doc: 1 + 1 == 2")
    ... def doc_check(seed):
    ...     return Check("doc: 1 + 1 == 2", 1, abs(1 + 1 - 2), 0.0, True)
    >>> [c.passed for c in run_checks(only="doc: 1 + 1", progress=False)]
    [True]
    >>> REGISTRY.remove(("doc: 1 + 1 == 2", doc_check))       # unregister again
    """

    def deco(fn):
        REGISTRY.append((name, fn))
        return fn

    return deco


def make_check(name, errors, tolerance, detail="", strict=False) -> Check:
    """Build a Check from a list of per-instance errors (pass if max error <= tolerance)."""
    worst = max(errors) if errors else 0.0
    ok = (worst < tolerance) if strict else (worst <= tolerance)
    return Check(name, len(errors), float(worst), float(tolerance), bool(ok), detail)


def run_checks(seed: int = 0, only: str | None = None, progress: bool = True) -> list[Check]:
    """Run every registered check (or those whose name contains ``only``).

    A check that raises counts as a failed :class:`Check` (``max_error = inf``), never as a
    crash of the run.

    Parameters
    ----------
    seed : int
        Passed to every check (deterministic instances).
    only : str, optional
        Substring filter on the check names.
    progress : bool
        Show a rich progress bar.

    Returns
    -------
    list of Check
        In registration order, each with its ``time_s``.

    Examples
    --------
    >>> checks = run_checks(only="1d == sorted quantiles", progress=False)
    >>> [(c.name, c.passed) for c in checks]
    [('1d == sorted quantiles', True)]
    """
    # imported here (they import this module for REGISTRY); never behind try/except: a broken
    # check module must fail loudly, not shrink the registry and still report success
    from . import estimators, theorems  # noqa: F401  (register the checks)
    selected = [(n, f) for n, f in REGISTRY if only is None or only in n]
    results = []
    bar = None
    if progress:
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("verifying", total=len(selected))
    try:
        for name, fn in selected:
            t0 = time.perf_counter()
            try:
                chk = fn(seed)
            except Exception as exc:  # a crashing check is a failing check, not a crash
                chk = Check(name, 0, float("inf"), 0.0, False, f"error: {exc!r}")
            chk.time_s = time.perf_counter() - t0
            results.append(chk)
            if bar:
                bar.advance(task)
    finally:
        if bar:
            bar.stop()
    return results


def format_table(checks: list[Check]) -> str:
    """Plain-text table: one row per claim, then a summary line.

    Parameters
    ----------
    checks : list of Check
        Results of :func:`run_checks`.

    Returns
    -------
    str
        Columns claim, instances, max error, tolerance, PASS/FAIL, time (seconds).

    Examples
    --------
    >>> print(format_table([Check("gaussian_w2 closed form", 3, 1e-12, 1e-9, True)]))
    claim                    instances  max error  tolerance  result  time
    -----------------------  ---------  ---------  ---------  ------  ----
    gaussian_w2 closed form  3          1e-12      1e-09      PASS    0.0s
    <BLANKLINE>
    1/1 claims verified
    """
    rows = [("claim", "instances", "max error", "tolerance", "result", "time")]
    for c in checks:
        rows.append((c.name, str(c.instances), f"{c.max_error:.3g}", f"{c.tolerance:.3g}",
                     "PASS" if c.passed else "FAIL", f"{c.time_s:.1f}s"))
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    n_fail = sum(not c.passed for c in checks)
    lines.append(f"\n{len(checks) - n_fail}/{len(checks)} claims verified"
                 + (f", {n_fail} FAILED" if n_fail else ""))
    return "\n".join(lines)
