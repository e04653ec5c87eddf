"""Command-line interface (typer).  No logic here: parse, call the library, print."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True)


def _print_version(value: bool):
    if value:
        from . import __version__
        typer.echo(f"otgen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_print_version,
                                        is_eager=True, help="Print otgen's version and exit.")):
    """otgen: certified optimal-transport numbers and the VEGAN-cookbook theorems, checked."""


def _thread_count(threads, distributed: bool = False) -> int:
    """--threads, else OMP_NUM_THREADS, else the free cores (split between the ranks of a
    distributed run, which start together: the load average cannot see them yet)."""
    from ._threads import available_cores, default_threads

    if threads is None and distributed:
        return max(1, available_cores() // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    try:
        return default_threads(threads)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _load_points(path: Path, name: str):
    from .evaluate import load_points

    try:
        return load_points(path, name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command()
def distance(
    x_path: Path = typer.Argument(..., metavar="X", help="points of P: .npy/.npz/.csv/.txt, (n, d)"),
    y_path: Path = typer.Argument(..., metavar="Y", help="points of Q: same format, (m, d)"),
    p: float = typer.Option(2.0, "--p", help="cost exponent: c(x, y) = |x - y|^p"),
    method: str = typer.Option("auto",
                               help="auto | exact | sparse | sinkhorn | 1d | gaussian | sliced"),
    tol: float = typer.Option(None, help="requested relative width of the certified interval"),
    eps: float = typer.Option(None, help="entropic regularization (sinkhorn), in cost units"),
    seed: int = typer.Option(0, help="random seed (projection directions)"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON object"),
    verbose: bool = typer.Option(False, "--verbose", "-v",
                                 help="progress of long solves on stderr (eps rounds, sweeps)"),
):
    """Optimal transport cost W_p^p between two point clouds, with a certified interval."""
    from .theory import sliced_wasserstein, wasserstein

    x, y = _load_points(x_path, "X"), _load_points(y_path, "Y")
    try:
        if method == "sliced":
            res = sliced_wasserstein(x, y, p=p, seed=seed)
        else:
            res = wasserstein(x, y, p=p, method=method, tol=tol, eps=eps, seed=seed,
                              verbose=verbose)
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
def evaluate(
    real_path: Path = typer.Argument(..., metavar="REAL",
                                     help="real samples: .npy/.npz/.csv/.txt/.pt, or a folder "
                                          "of PNG/JPEG images"),
    fake_path: Path = typer.Argument(..., metavar="FAKE", help="generated samples: same formats"),
    features: str = typer.Option("identity", help="identity | an otgen run directory (its "
                                                  "encoder mean)"),
    json_path: Path = typer.Option(None, "--json", help="write the numbers as JSON here"),
    report: Path = typer.Option(None, "--report", help="write report.md, JSON and PNGs here"),
    n: int = typer.Option(None, "--n", help="samples per side (default: the smaller sample)"),
    seed: int = typer.Option(0, "--seed", help="seed of subsampling, bootstrap and curve"),
    k: int = typer.Option(5, "--k", help="neighbours of precision/recall/density/coverage"),
    repeats: int = typer.Option(20, "--repeats", help="bootstrap resamples (0: none)"),
    no_curve: bool = typer.Option(False, "--no-curve", help="skip the sample-size curve"),
    cost: str = typer.Option("sqeuclidean", help="ground cost (sqeuclidean: W_2^2 and W_1)"),
    threads: int = typer.Option(None, help="torch CPU threads (default: OMP_NUM_THREADS, "
                                           "else the free cores)"),
):
    """Compare generated samples with real ones: certified W_2^2 / W_1, Frechet, MMD, KID,
    precision / recall, density / coverage and the sample-size curve, each with its
    uncertainty."""
    from .evaluate import evaluate as run_evaluation, write_report

    from ._threads import torch_threads

    real, fake = _load_points(real_path, "REAL"), _load_points(fake_path, "FAKE")
    try:
        with torch_threads(_thread_count(threads)):
            res = run_evaluation(real, fake, cost=cost, features=features, n=n, seed=seed,
                                 k=k, repeats=repeats, curve=not no_curve)
    except (ValueError, TypeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    typer.echo(repr(res))
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(res.to_dict(), indent=2))
        typer.echo(f"wrote {json_path}")
    if report:
        typer.echo("wrote " + ", ".join(str(f) for f in write_report(res, report)))


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


def _hidden(text: str) -> tuple:
    try:
        return tuple(int(h) for h in text.split(",") if h.strip())
    except ValueError:
        raise typer.BadParameter(f"--hidden must be comma-separated integers, got {text!r}")


@app.command()
def train(
    model: str = typer.Argument(..., help="wae-mmd | wae-gan | wae | vae | wgan-gp"),
    data: str = typer.Option("digits", help="digits | mixture | circle | sphere | torus | "
                                            "swiss-roll | path to MNIST IDX dir / .npz"),
    epochs: int = typer.Option(100, help="passes over the training set (WGAN-GP: n_critic "
                                         "passes, one generator update per minibatch)"),
    out: Path = typer.Option(..., "--out", help="run directory (re-running resumes there)"),
    seed: int = typer.Option(0, help="seed of weights, batches and noise"),
    latent_dim: int = typer.Option(8, help="latent dimension d_z"),
    hidden: str = typer.Option("256,256", help="hidden widths, e.g. 256,256"),
    arch: str = typer.Option("mlp", help="mlp | conv"),
    batch_size: int = typer.Option(100),
    lr: float = typer.Option(None, help="learning rate (default per model)"),
    lam: float = typer.Option(None, "--lambda", help="penalty weight (WAE)"),
    penalty: str = typer.Option(None, help="mmd | mmd-rbf | gan | sliced | sinkhorn | kl "
                                           "(model wae)"),
    cost: str = typer.Option("squared", help="reconstruction cost: squared | l2 | l1"),
    decoder_std: float = typer.Option(0.1, help="VAE Gaussian decoder std s"),
    checkpoint_every: int = typer.Option(200, help="steps between atomic checkpoints"),
    no_resume: bool = typer.Option(False, "--no-resume", help="overwrite an existing run"),
    threads: int = typer.Option(None, help="torch CPU threads per process (default: "
                                           "OMP_NUM_THREADS, else the free cores)"),
    nproc: int = typer.Option(1, "--nproc", help="data-parallel processes on this machine "
                                                 "(torchrun; every model; rank 0 writes the "
                                                 "run directory)"),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N (auto: CUDA when "
                                            "present; distributed: gloo on cpu, nccl on cuda)"),
):
    """Train a generative model; killed runs resume from their last checkpoint.

    Data-parallel with --nproc N or under torchrun: see docs/guide-distributed.md.
    """
    from .models import TrainConfig, TrainingDivergedError, fit
    from .models.distributed import (check_supported, fit_distributed, launch,
                                     under_torchrun)
    from .models.train import resolve_device

    distributed = under_torchrun()
    cfg = TrainConfig(model=model, data=data, epochs=epochs, seed=seed, latent_dim=latent_dim,
                      hidden=_hidden(hidden), arch=arch, batch_size=batch_size, lr=lr, lam=lam,
                      penalty=penalty, cost=cost, decoder_std=decoder_std,
                      checkpoint_every=checkpoint_every)
    try:  # refused before anything is launched or written
        if nproc < 1:
            raise ValueError(f"--nproc must be >= 1, got {nproc}")
        resolve_device(device)
        if nproc > 1 and not distributed:
            check_supported(cfg.validate(), nproc)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    if nproc > 1 and not distributed:  # re-run this command under torchrun
        args = ["train", model, "--data", data, "--epochs", str(epochs), "--out", str(out),
                "--seed", str(seed), "--latent-dim", str(latent_dim), "--hidden", hidden,
                "--arch", arch, "--batch-size", str(batch_size), "--cost", cost,
                "--decoder-std", str(decoder_std), "--checkpoint-every", str(checkpoint_every),
                "--device", device]
        for flag, v in (("--lr", lr), ("--lambda", lam), ("--penalty", penalty),
                        ("--threads", threads)):
            if v is not None:
                args += [flag, str(v)]
        raise typer.Exit(launch(nproc, args + (["--no-resume"] if no_resume else [])))
    try:
        res = (fit_distributed if distributed else fit)(
            cfg, out, progress=sys.stderr.isatty(), resume=not no_resume,
            threads=_thread_count(threads, distributed), device=device)
    except TrainingDivergedError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(3)
    except (ValueError, TypeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    if distributed and int(os.environ.get("RANK", "0")) != 0:
        return
    if res.resumed_from is not None:
        typer.echo(f"resumed from checkpoint at step {res.resumed_from}")
    last = res.history[-1] if res.history else {}
    terms = "  ".join(f"{k} {v:.4g}" for k, v in last.items() if k not in ("step", "epoch"))
    typer.echo(f"{res.config.model}: {res.step} steps done -> {out}  {terms}")


@app.command()
def audit(
    run_dir: Path = typer.Argument(..., help="a run directory written by `otgen train`"),
    n: int = typer.Option(None, help="held-out points (default: all, at most 1000)"),
    n_gen: int = typer.Option(None, help="generated points per draw (default n)"),
    repeats: int = typer.Option(5, help="draws of the generated sample"),
    critic_steps: int = typer.Option(1000, help="critic training steps for the dual check"),
    seed: int = typer.Option(None, help="audit seed (default: the run's)"),
    cost: str = typer.Option(None, help="an extra ground cost c for the primal checks: "
                                        "cityblock, cosine, euclidean or sqeuclidean"),
    no_plots: bool = typer.Option(False, "--no-plots"),
    threads: int = typer.Option(None, help="torch CPU threads (default: OMP_NUM_THREADS, "
                                           "else the free cores)"),
):
    """Audit a run against exact OT; writes audit.json, report.md and PNGs into RUN_DIR."""
    from .models.audit import audit_run

    kw = {} if seed is None else {"seed": seed}
    if cost is not None:
        kw["cost"] = cost
    try:
        res = audit_run(run_dir, n=n, n_gen=n_gen, repeats=repeats, critic_steps=critic_steps,
                        plots=not no_plots, threads=_thread_count(threads), **kw)
    except (ValueError, TypeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    m = res.metrics
    w = m["w2sq_test_vs_model"]
    typer.echo(f"W_2^2(P_test, P_G)  {w['mean']:.5g} +- {w['std']:.2g}   certified "
               f"[{w['lower']:.5g}, {w['upper']:.5g}]   data floor {w['data_floor_mean']:.5g}")
    for name, c in m["checks"].items():
        typer.echo(f"{'ok  ' if c['holds'] else 'FAIL'} {name}: {c['lhs']:.6g} >= {c['rhs']:.6g}")
    typer.echo("wrote " + ", ".join(str(f) for f in res.files))
    if not res.passed:
        raise typer.Exit(1)


@app.command()
def sample(
    run_dir: Path = typer.Argument(..., help="a run directory written by `otgen train`"),
    n: int = typer.Option(64, "-n", help="number of samples"),
    out: Path = typer.Option(..., "--out", help="grid .png (images), scatter .png (2-D) or .npy"),
    seed: int = typer.Option(0),
):
    """Draw samples G(Z), Z ~ P_Z, from a trained run."""
    from .models.audit import sample_run

    try:
        _, path = sample_run(run_dir, n, out, seed=seed)
    except (ValueError, TypeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    typer.echo(f"wrote {path}")


def main():  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
