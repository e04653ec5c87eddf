r"""Data-parallel training (PyTorch DistributedDataParallel) of the WAE models.

Launch either way (gloo backend; training runs on CPU, like :func:`otgen.models.fit`)::

    otgen train wae-mmd --data digits --epochs 100 --out runs/wae --nproc 4
    torchrun --standalone --nproc_per_node 4 -m otgen train wae-mmd --data digits --out runs/wae

What each step does, on every one of the W ranks:

* the global batch of ``batch_size`` rows is cut from the same seed-based permutation as in a
  single-process run; rank r takes the contiguous shard ``rows [r b, (r+1) b)``, b = B / W
  (``batch_size`` must be divisible by W);
* all step noise (prior draws, encoder noise, sliced projections) comes from the same
  ``(seed, step)`` generator on every rank, drawn for the *global* batch; each rank uses its
  slice of the encoder noise and the whole prior sample;
* the latent codes (and, for Gaussian encoders, their means and log-variances) are gathered with
  :func:`torch.distributed.nn.functional.all_gather`, which keeps the gradient, so the penalty
  F(Q_Z, P_Z) is computed on the global latent batch, identically on every rank;
* the local loss is ``mean_{own shard} c(x, G(z)) + lambda F(global)``; DDP averages the
  gradients over ranks, which gives exactly the gradient of the single-process loss on the global
  batch (the all_gather backward sums the W identical penalty gradients, DDP divides by W);
* rank 0 alone writes ``config.json``, ``metrics.jsonl`` and the atomic ``checkpoint.pt``; every
  rank reads the checkpoint on resume.

Supported: ``wae-mmd`` and ``wae`` with the penalties ``mmd``, ``mmd-rbf``, ``sliced``,
``sinkhorn``, ``kl``.  (WAE-GAN, VAE and WGAN-GP raise ValueError.)
"""
from __future__ import annotations

import os
import socket
import warnings

import torch
import torch.distributed as dist
from torch import nn

from .objectives import reconstruction_cost
from .train import FitResult, TrainConfig, _fit, torch_threads

SUPPORTED_PENALTIES = ("mmd", "mmd-rbf", "sliced", "sinkhorn", "kl")


def _gather(t: torch.Tensor) -> torch.Tensor:
    """Concatenate ``t`` of all ranks (rank order) keeping the autograd graph."""
    from torch.distributed.nn.functional import all_gather

    with warnings.catch_warnings():  # deprecated in favour of a private API; still correct
        warnings.filterwarnings("ignore", "torch.distributed.nn.functional.all_gather",
                                FutureWarning)
        return torch.cat(all_gather(t), 0)


class _LocalWAELoss(nn.Module):
    """The per-rank WAE loss: reconstruction on the own shard, penalty on the gathered batch."""

    def __init__(self, model, cost: str):
        super().__init__()
        self.model, self.cost = model, cost

    def forward(self, x, noise, pz, generator):
        m = self.model
        mean, logvar = m.encoder(x)
        qz = mean if logvar is None else mean + torch.exp(0.5 * logvar) * noise
        recon = reconstruction_cost(x, m.decoder(qz), self.cost).mean()
        qz_all = _gather(qz)
        mean_all = _gather(mean) if logvar is not None else None
        logvar_all = _gather(logvar) if logvar is not None else None
        pen = m.penalty(qz_all, pz, mean=mean_all, logvar=logvar_all, generator=generator)
        return recon, pen


class DistributedWAEStep:
    """``step(global_batch, step, generator) -> terms``: one DDP update of a WAE model."""

    def __init__(self, model, objective):
        self.model, self.obj = model, objective
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.ddp = nn.parallel.DistributedDataParallel(_LocalWAELoss(model, objective.cost))

    def __call__(self, batch: torch.Tensor, step: int, generator=None) -> dict:
        m, obj = self.model, self.obj
        n = batch.shape[0]
        b = n // self.world
        x = batch[self.rank * b:(self.rank + 1) * b]
        # the same draws, in the same order, as Objective.wae_losses on the global batch
        noise = None
        if m.encoder.stochastic:
            noise = torch.randn(n, m.latent_dim, generator=generator)[
                self.rank * b:(self.rank + 1) * b]
        pz = m.prior(n, generator)
        recon, pen = self.ddp(x, noise, pz, generator)
        recon_all = recon.detach().clone()
        dist.all_reduce(recon_all)
        recon_all /= self.world
        loss_all = recon_all + obj.lam * pen.detach()
        terms = {"loss": float(loss_all), "recon": float(recon_all),
                 "penalty": float(pen.detach())}
        if not torch.isfinite(loss_all):  # identical on all ranks: they all stop together
            obj._update("autoencoder", loss_all, step, terms)  # raises TrainingDivergedError
        obj._update("autoencoder", recon + obj.lam * pen, step, terms)
        return terms


def check_supported(cfg: TrainConfig, world: int = 1) -> None:
    """ValueError unless a validated config can train on ``world`` data-parallel ranks."""
    if cfg.model not in ("wae-mmd", "wae") or cfg.penalty not in SUPPORTED_PENALTIES:
        raise ValueError(f"distributed training supports model wae-mmd / wae with penalty in "
                         f"{SUPPORTED_PENALTIES}, not model={cfg.model!r} penalty={cfg.penalty!r}")
    if cfg.batch_size % world:
        raise ValueError(f"batch_size={cfg.batch_size} must be divisible by the number of "
                         f"processes ({world})")


def fit_distributed(config: TrainConfig | None = None, out_dir=None, *, data=None,
                    progress: bool = False, resume: bool = True, max_steps: int | None = None,
                    threads: int | None = None) -> FitResult:
    """:func:`otgen.models.fit` on every rank of a process group (data-parallel, DDP).

    Initializes the default process group from the torchrun environment (``env://``, gloo) when
    it is not initialized yet.  Same arguments and result as :func:`~otgen.models.fit`; only
    rank 0 writes to ``out_dir`` and shows progress.  The trained model is identical on all ranks.
    """
    cfg = (config or TrainConfig()).validate()
    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group("gloo")
    try:
        check_supported(cfg, dist.get_world_size())
    except ValueError:
        if owned:
            dist.destroy_process_group()
        raise
    writer = dist.get_rank() == 0
    try:
        with torch_threads(threads):
            res = _fit(cfg, out_dir, data, progress, resume, max_steps,
                       make_stepper=DistributedWAEStep, writer=writer)
        dist.barrier()  # rank 0 has written its last checkpoint before anyone returns
    finally:
        if owned:
            dist.destroy_process_group()
    return res


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for MASTER_PORT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def under_torchrun() -> bool:
    """True in a process started by torchrun with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def launch(nproc: int, argv: list[str]) -> int:
    """Run ``python -m otgen ARGV`` under torchrun with ``nproc`` processes on this machine
    (127.0.0.1, a free port); returns the exit status."""
    import subprocess
    import sys

    if nproc < 1:
        raise ValueError(f"nproc must be >= 1, got {nproc}")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
           "-m", "otgen", *argv]
    return subprocess.call(cmd)
