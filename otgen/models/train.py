r"""One training loop for every model: config, seeds, progress, metrics, atomic checkpoints, resume.

Run directory layout (``out_dir``)::

    config.json       the TrainConfig (written once; a resume must match it, except `epochs`)
    checkpoint.pt     model + optimizer state at the last checkpointed step (atomic writes)
    metrics.jsonl     one JSON object per logged step (mean loss terms since the last line)

Determinism: the initial weights come from ``torch.manual_seed(seed)``; the minibatch order of
epoch ``e`` from a generator seeded by ``(seed, e)``; all noise of step ``t`` (prior draws,
encoder noise, interpolation weights) from a generator seeded by ``(seed, t)``.  So a run
killed at any point and resumed from its checkpoint at step ``k`` replays steps ``k+1, ...``
exactly as the uninterrupted run would (on the same machine and thread count).

Checkpoints are written to a temporary file in the same directory, flushed and fsync-ed, then
moved over ``checkpoint.pt`` with :func:`os.replace` (atomic on POSIX), so a crash at any
instant leaves either the previous or the new checkpoint, never a torn one.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._threads import torch_threads
from .run_files import (FORMAT, METRICS, append_metrics, load_checkpoint, save_checkpoint,
                        truncate_metrics, write_json)
from .collective import LOCAL
from .config import TrainConfig
from .data import DataSplit, get_data
from .model import GenerativeModel
from .objectives import build_model
from .specs import ModelSpec, TrainingDivergedError, spec_for

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.json"
#: config fields a resume may change (they do not alter the steps already taken)
RESUMABLE_CHANGES = ("epochs", "checkpoint_every", "log_every")

def _mix(*ints) -> int:
    return int(np.random.SeedSequence(list(ints)).generate_state(1, np.uint64)[0] >> 1)


def _finite_params(model) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


# --- the loop ---------------------------------------------------------------------------------
@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes
    ----------
    model : GenerativeModel (in eval mode)
    config : TrainConfig (defaults resolved)
    data : DataSplit
    run_dir : Path or None
    step : int -- steps completed in total
    resumed_from : int or None -- the checkpoint step this call started from
    history : list of dict -- metrics lines logged by this call

    Examples
    --------
    >>> cfg = TrainConfig(model="vae", data="mixture", data_options={"n_train": 40, "n_test": 8},
    ...                   latent_dim=2, hidden=(8,), epochs=1, batch_size=20, log_every=1)
    >>> res = fit(cfg)
    >>> res.step, res.resumed_from, [line["step"] for line in res.history]
    (2, None, [1, 2])

    References
    ----------
    D. P. Kingma, M. Welling. Auto-encoding variational Bayes. ICLR 2014 (the model trained in
    the example).
    """

    model: GenerativeModel
    config: TrainConfig
    data: DataSplit
    run_dir: Path | None
    step: int
    resumed_from: int | None
    history: list


def make_model(config: TrainConfig, data: DataSplit) -> GenerativeModel:
    """Build the (seeded) networks of a validated config for a data set."""
    torch.manual_seed(config.seed)
    output = "sigmoid" if data.is_image else "linear"
    return build_model(config.model, data.dim, latent_dim=config.latent_dim,
                       hidden=config.hidden, arch=config.arch, image_shape=data.image_shape,
                       output=output, penalty=config.penalty, sigma_z=config.sigma_z,
                       decoder_std=config.decoder_std,
                       stochastic_encoder=config.stochastic_encoder,
                       penalty_options=config.penalty_options)


def make_objective(config: TrainConfig, model: GenerativeModel) -> ModelSpec:
    """The spec of a validated config's model kind (optimizers, step) for ``model``."""
    return spec_for(config.model).from_config(config, model)


def _check_data(data: DataSplit) -> None:
    if not isinstance(data, DataSplit):
        raise TypeError(f"data must be a DataSplit, got {type(data).__name__}")
    for name, t in (("train", data.train), ("test", data.test)):
        if not isinstance(t, torch.Tensor) or t.ndim != 2 or t.shape[0] < 1:
            raise ValueError(f"data.{name} must be a non-empty (n, d) tensor")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"data.{name} contains NaN or infinite values")
    if data.train.shape[1] != data.test.shape[1]:
        raise ValueError(f"data.train has dimension {data.train.shape[1]} but data.test has "
                         f"{data.test.shape[1]}")


def _compatible(saved: dict, now: dict, where) -> None:
    diff = [k for k in sorted(set(saved) | set(now))
            if k not in RESUMABLE_CHANGES and saved.get(k) != now.get(k)]
    if diff:
        k = diff[0]
        raise ValueError(f"{where} holds a run with a different configuration ({k}: saved "
                         f"{saved.get(k)!r}, now {now.get(k)!r}); use another output directory "
                         "or resume=False to overwrite it")


def resolve_device(device="auto") -> torch.device:
    """The torch device to train on: ``"auto"`` is CUDA when present, else the CPU.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"`` (``"cuda"`` if :func:`torch.cuda.is_available`, else ``"cpu"``), ``"cpu"``,
        ``"cuda"`` (the current CUDA device) or ``"cuda:N"``.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        ``device`` is not one of the above, or names CUDA (or a CUDA index) that this machine
        does not have.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("auto").type in ("cpu", "cuda")
    True

    References
    ----------
    PyTorch documentation, "torch.device" and "CUDA semantics",
    https://pytorch.org/docs/stable/notes/cuda.html
    """
    if isinstance(device, torch.device):
        text = str(device)
    elif isinstance(device, str):
        text = device.strip().lower()
    else:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda") or (dev.type == "cpu" and dev.index):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} asks for CUDA, but torch.cuda.is_available() "
                             "is False on this machine; use device='cpu' or 'auto'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r}: this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
    return dev


def fit(config: TrainConfig | None = None, out_dir=None, *, data: DataSplit | None = None,
        progress: bool = False, resume: bool = True, max_steps: int | None = None,
        threads: int | None = None, device="cpu") -> FitResult:
    """Train a model; resumable, deterministic, stopped on NaN/inf.

    Parameters
    ----------
    config : TrainConfig, optional (defaults: WAE-MMD on digits)
    out_dir : str or Path, optional
        Run directory (config.json, checkpoint.pt, metrics.jsonl).  When it already holds a
        checkpoint and ``resume`` is True, training continues from it (the configuration must
        match, except ``epochs``, ``checkpoint_every``, ``log_every``).  None: nothing written.
    data : DataSplit, optional
        Overrides ``config.data`` (the run directory then cannot reload it by itself).
    progress : bool
        Show a rich progress bar with the live loss terms.
    resume : bool
        False: ignore and overwrite an existing checkpoint.
    max_steps : int, optional
        Stop (and checkpoint) once this many steps are done in total, before the end of the
        schedule; calling again continues.
    threads : int, optional
        torch CPU threads during this call (restored afterwards).  Small nets on a busy
        machine train fastest with 1; bitwise reproducibility needs the same value.
    device : str or torch.device
        Where the networks, the batches and all step noise live (see :func:`resolve_device`):
        ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when present).  The
        step generators live on that device too, so a CUDA run draws other noise than a CPU
        run; each is reproducible on its own device.  The returned model stays there.

    Returns
    -------
    FitResult

    Raises
    ------
    TrainingDivergedError
        A loss or gradient became NaN/inf.  The checkpoint on disk is the last good one.
    ValueError
        Bad config values, unreadable checkpoint, configuration mismatch on resume, bad data,
        unknown ``device`` or CUDA asked for on a machine without it.

    Examples
    --------
    >>> import tempfile
    >>> cfg = TrainConfig(model="wae-mmd", data="mixture",
    ...                   data_options={"n_train": 40, "n_test": 8}, latent_dim=2, hidden=(8,),
    ...                   epochs=2, batch_size=20, log_every=1)
    >>> run = tempfile.mkdtemp()
    >>> fit(cfg, run, max_steps=3).step                  # stopped early, checkpointed
    3
    >>> res = fit(cfg, run)                              # resumed from the checkpoint
    >>> res.resumed_from, res.step, sorted(res.history[-1])
    (3, 4, ['epoch', 'loss', 'penalty', 'recon', 'step', 'time_s'])

    References
    ----------
    I. Tolstikhin, O. Bousquet, S. Gelly, B. Schölkopf. Wasserstein Auto-Encoders. ICLR 2018.
    O. Bousquet et al. From optimal transport to generative modeling: the VEGAN cookbook.
    arXiv:1705.07642, 2017.
    """
    cfg = (config or TrainConfig()).validate()
    dev = resolve_device(device)
    with torch_threads(threads):
        return fit_loop(cfg, out_dir, data, progress, resume, max_steps, device=dev)


def fit_loop(cfg, out_dir, data, progress, resume, max_steps, *, collective=LOCAL,
             writer: bool = True, device=torch.device("cpu")) -> FitResult:
    """The training loop behind :func:`fit` and :func:`otgen.models.distributed.fit_distributed`
    (checkpoints, resume, NaN guard, progress); returns the run's :class:`FitResult`."""
    # collective: LOCAL (one process) or a TorchDistCollective (otgen.models.distributed);
    # writer=False: read the run directory, never write it; device: a resolved torch.device
    # holding the model, the data and the step generators
    data = data if data is not None else get_data(cfg.data, seed=cfg.seed, **cfg.data_options)
    _check_data(data)
    n, lo = data.train.shape[0], spec_for(cfg.model).min_batch
    if not lo <= cfg.batch_size <= n:
        raise ValueError(f"batch_size={cfg.batch_size} must lie in [{lo}, n_train={n}]")
    total = cfg.epochs * spec_for(cfg.model).steps_per_epoch(cfg, n)
    stop = total if max_steps is None else min(total, int(max_steps))
    model = make_model(cfg, data).to(device)
    spec = make_objective(cfg, model)
    run = _RunDir(Path(out_dir) if out_dir is not None else None, writer)
    start, acc = run.open(cfg, model, spec, resume)
    collective.broadcast_parameters(model)
    bar = _progress(progress and writer, cfg.model, total, start)
    model.train()
    try:
        history, step = _train(cfg, spec, run, collective, data.train.to(device), bar, acc,
                               (start, stop, total), device)
    finally:
        if bar is not None:
            bar[0].stop()
    model.eval()
    return FitResult(model, cfg, data, run.path, step, start if run.resumed else None, history)


def _batches(x_all, cfg, start: int, stop: int, device):
    """``(step, global batch, step generator)`` for the steps ``start .. stop - 1``: pass e's
    order over the data (an epoch, or 1/n_critic of one for WGAN-GP) from a generator seeded by
    (seed, e), step t's noise by (seed, t)."""
    n, perm, perm_epoch = x_all.shape[0], None, -1
    per_epoch = n // cfg.batch_size
    for step in range(start, stop):
        epoch = step // per_epoch
        if epoch != perm_epoch:
            g = torch.Generator().manual_seed(_mix(cfg.seed, 1, epoch))
            perm, perm_epoch = torch.randperm(n, generator=g), epoch
        i = (step % per_epoch) * cfg.batch_size
        gen = torch.Generator(device=device).manual_seed(_mix(cfg.seed, 2, step))
        yield step, x_all[perm[i:i + cfg.batch_size]], gen


def _train(cfg, spec, run, collective, x_all, bar, acc, schedule, device):
    """Steps ``start .. stop - 1`` with metrics lines and checkpoints; (history, last step)."""
    start, stop, total = schedule
    per_epoch = total // cfg.epochs
    history, t0, done = [], time.perf_counter(), start
    for step, batch, gen in _batches(x_all, cfg, start, stop, device):
        try:
            terms = spec.step(batch, step, gen, collective)
        except TrainingDivergedError as exc:
            run.log({"step": step + 1, "event": "diverged", "message": str(exc), **exc.terms})
            raise
        done = step + 1
        for k, v in terms.items():
            acc.setdefault(k, []).append(v)
        if done % cfg.log_every == 0 or done == total:
            line = {"step": done, "epoch": done / per_epoch,
                    **{k: float(np.mean(v)) for k, v in acc.items()},
                    "time_s": time.perf_counter() - t0}
            history.append(line)
            acc.clear()
            run.log(line)
            if bar is not None:
                bar[0].update(bar[1], completed=done, terms=_terms_text(line))
        elif bar is not None and done % 10 == 0:
            bar[0].update(bar[1], completed=done)
        if run.path is not None and (done % cfg.checkpoint_every == 0 or done == stop):
            run.checkpoint(cfg, done, total, spec, acc)
    return history, done


@dataclass
class _RunDir:
    """The run directory as one process sees it: every rank reads it, the writer writes it."""

    path: Path | None
    writer: bool
    resumed: bool = False

    def open(self, cfg, model, spec, resume: bool):
        """Resume from the checkpoint (model, optimizers, pending terms) if there is one;
        the writer (re)writes config.json and truncates metrics.jsonl.  -> (start, terms)."""
        start, acc = 0, {}  # acc: loss terms since the last metrics line (checkpointed)
        if self.path is None:
            return start, acc
        if self.writer:
            self.path.mkdir(parents=True, exist_ok=True)
        ck_path = self.path / CHECKPOINT
        if resume and ck_path.exists():
            ck = load_checkpoint(ck_path)
            _compatible(json.loads(ck["config"]), cfg.to_dict(), self.path)
            try:
                model.load_state_dict(ck["model"])
                spec.load_state_dict(ck["optimizers"])
            except (RuntimeError, KeyError, ValueError) as exc:
                raise ValueError(f"checkpoint {ck_path} does not fit this model: {exc}") from None
            start, self.resumed = int(ck["step"]), True
            acc = json.loads(ck.get("pending_terms", "{}"))
        if self.writer:
            write_json(self.path / CONFIG, cfg.to_dict())
            truncate_metrics(self.path / METRICS, start)
        return start, acc

    def log(self, line: dict) -> None:
        if self.path is not None and self.writer:
            append_metrics(self.path / METRICS, line)

    def checkpoint(self, cfg, step: int, total: int, spec, acc: dict) -> None:
        """Refuse non-finite parameters (the last checkpoint is kept), then write atomically."""
        if not _finite_params(spec.model):
            raise TrainingDivergedError(f"training diverged at step {step}: parameters are not "
                                        "finite; the last checkpoint is kept", step)
        if self.writer:
            save_checkpoint(self.path / CHECKPOINT, {
                "format": FORMAT, "step": step, "done": step >= total,
                "config": json.dumps(cfg.to_dict()), "model": spec.model.state_dict(),
                "optimizers": spec.state_dict(), "pending_terms": json.dumps(acc)})


def load_run(run_dir, *, data: DataSplit | None = None) -> FitResult:
    """Load a trained (or partly trained) run directory: config, data and model weights.

    Parameters
    ----------
    run_dir : str or Path
        A directory written by :func:`fit` (or ``otgen train``).
    data : DataSplit, optional
        The data of the run, when it was given to :func:`fit` directly (default: reloaded from
        the config).

    Returns
    -------
    FitResult
        The model (CPU, eval mode) at the checkpointed ``step``; ``history`` is empty.

    Raises
    ------
    ValueError
        Missing directory or checkpoint, an unreadable config, weights that do not fit it.

    Examples
    --------
    >>> import tempfile
    >>> cfg = TrainConfig(model="vae", data="mixture", data_options={"n_train": 40, "n_test": 8},
    ...                   latent_dim=2, hidden=(8,), epochs=1, batch_size=20)
    >>> run = tempfile.mkdtemp()
    >>> _ = fit(cfg, run)
    >>> res = load_run(run)
    >>> res.step, res.config.model, res.model.kind
    (2, 'vae', 'vae')
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"run directory {run_dir} does not exist")
    ck = load_checkpoint(run_dir / CHECKPOINT)
    try:
        cfg = TrainConfig.from_dict(json.loads(ck["config"])).validate()
    except (json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"checkpoint {run_dir / CHECKPOINT} holds an unreadable config: {exc}"
                         ) from None
    data = data if data is not None else get_data(cfg.data, seed=cfg.seed, **cfg.data_options)
    model = make_model(cfg, data)
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError as exc:
        raise ValueError(f"checkpoint {run_dir / CHECKPOINT} does not fit its config: {exc}"
                         ) from None
    model.eval()
    return FitResult(model, cfg, data, run_dir, int(ck["step"]), None, [])


def _terms_text(line: dict) -> str:
    return "  ".join(f"{k} {v:.4g}" for k, v in line.items()
                     if k not in ("step", "epoch", "time_s"))


def _progress(enabled: bool, name: str, total: int, start: int):
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeRemainingColumn)

    p = Progress(TextColumn(f"[bold]{name}"), BarColumn(), MofNCompleteColumn(),
                 TimeRemainingColumn(), TextColumn("{task.fields[terms]}"),
                 console=Console(stderr=True))
    p.start()
    task = p.add_task(name, total=total, completed=start, terms="")
    return p, task
