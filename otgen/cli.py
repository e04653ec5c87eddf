"""Command-line interface (typer).  No logic here: parse, call the library, print."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="otgen: certified optimal-transport numbers and the VEGAN-cookbook "
                       "theorems, checked.")


def _load_points(path: Path, name: str):
    import numpy as np

    if not path.exists():
        raise typer.BadParameter(f"{name} file {path} does not exist")
    try:
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                arr = z[z.files[0]]
        else:
            arr = np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None, ndmin=2)
    except Exception as exc:
        raise typer.BadParameter(f"cannot read {name} file {path}: {exc}") from None
    return arr


@app.command()
def distance(
    x_path: Path = typer.Argument(..., metavar="X", help="points of P: .npy/.npz/.csv/.txt, (n, d)"),
    y_path: Path = typer.Argument(..., metavar="Y", help="points of Q: same format, (m, d)"),
    p: float = typer.Option(2.0, "--p", help="cost exponent: c(x, y) = |x - y|^p"),
    method: str = typer.Option("auto", help="auto | exact | sinkhorn | 1d | gaussian | sliced"),
    tol: float = typer.Option(None, help="requested relative width of the certified interval"),
    eps: float = typer.Option(None, help="entropic regularization (sinkhorn), in cost units"),
    seed: int = typer.Option(0, help="random seed (sliced directions)"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON object"),
):
    """Optimal transport cost W_p^p between two point clouds, with a certified interval."""
    from .theory import sliced_wasserstein, wasserstein

    x, y = _load_points(x_path, "X"), _load_points(y_path, "Y")
    try:
        if method == "sliced":
            res = sliced_wasserstein(x, y, p=p, seed=seed)
        else:
            res = wasserstein(x, y, p=p, method=method, tol=tol, eps=eps, seed=seed)
    except (ValueError, TypeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    if as_json:
        typer.echo(json.dumps(res.to_dict(), indent=2))
        return
    typer.echo(f"W_p^p     {res.value:.8g}   (p={p:g}, W_p = {res.distance:.8g})")
    typer.echo(f"interval  [{res.lower:.8g}, {res.upper:.8g}]  relative width {res.rel_gap:.2e}")
    typer.echo(f"method    {res.method}   converged={res.converged}   iterations={res.n_iter}"
               + (f"   eps={res.eps:.3g}" if res.eps else ""))
    typer.echo(f"time      {res.time_s:.3f} s")


@app.command()
def verify(
    json_path: Path = typer.Option(None, "--json", help="also write the results as JSON here"),
    plots: Path = typer.Option(None, "--plots", help="write PNG figures into this directory"),
    only: str = typer.Option(None, help="run only the checks whose name contains this text"),
    seed: int = typer.Option(0, help="seed of the random instances"),
):
    """Check every claim of otgen (estimators and the paper's theorems) on embedded data.

    Prints one row per claim; exits with status 1 if any claim fails.
    """
    from .verify import format_table, run_checks

    checks = run_checks(seed=seed, only=only, progress=sys.stderr.isatty())
    typer.echo(format_table(checks))
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"checks": [c.to_dict() for c in checks]}, indent=2))
    if plots:
        from .verify.plots import write_plots

        for f in write_plots(plots, seed=seed):
            typer.echo(f"wrote {f}")
    if not all(c.passed for c in checks):
        raise typer.Exit(1)


def main():  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
