r"""Data-parallel training of every model (WAE-MMD, WAE, WAE-GAN, VAE, WGAN-GP) on W ranks.

Launch any of these ways (see docs/guide-distributed.md)::

    otgen train wae-gan --data digits --epochs 100 --out runs/aae --nproc 4
    torchrun --standalone --nproc_per_node 4 -m otgen.train wae-gan --data digits --out runs/aae
    torchrun --standalone --nproc_per_node 4 -m otgen train wae-gan --data digits --out runs/aae

Backend: gloo on the CPU, nccl when the training device is CUDA (rank r uses ``cuda:LOCAL_RANK``).
What each step does, on every one of the W ranks:

* the global batch of ``batch_size`` rows is cut from the same seed-based permutation as in a
  single-process run; rank r takes the contiguous shard ``rows [r b, (r+1) b)``, b = B / W
  (``batch_size`` must be divisible by W);
* all step noise (prior draws, encoder noise, sliced projections, gradient-penalty weights) comes
  from the same ``(seed, step)`` generator on every rank, drawn for the *global* batch, in the
  order of the single-process :meth:`~otgen.models.Objective.step`; each rank uses its slice of
  the per-sample draws and the whole prior sample where the loss needs it;
* WAE penalties: the latent codes (and, for Gaussian encoders, their means and log-variances)
  are gathered with :func:`torch.distributed.nn.functional.all_gather`, which keeps the
  gradient, so F(Q_Z, P_Z) is computed on the global latent batch, identically on every rank;
* WAE-GAN: the latent discriminator is trained on the gathered (detached) global code batch and
  the global prior sample, identically on every rank; the encoder's side of the game is a WAE
  penalty as above;
* VAE and WGAN-GP: every term is a per-sample mean (negative ELBO; critic gap and gradient
  penalty; generator loss), so the mean over the W equal shards of the local terms *is* the
  global-batch value; each rank computes them on its shard (the gradient-penalty interpolation
  weights t are the rank's slice of the global draw);
* every update averages the gradients of the parameters it steps over the ranks with one
  flattened all-reduce (what DistributedDataParallel does, see below), *before* the
  gradient-norm check and clipping; so all ranks take the same step and stay identical, and the
  averaged gradient is exactly the gradient of the single-process loss on the global batch.
  For a gathered penalty the all_gather backward sums the W identical penalty gradients and the
  average divides by W;
* the logged terms are all-reduced to their global values; the NaN/inf guards act on global
  quantities, so all ranks stop together;
* rank 0 alone writes ``config.json``, ``metrics.jsonl`` and the atomic ``checkpoint.pt``; every
  rank reads the checkpoint on resume.

Why not ``nn.parallel.DistributedDataParallel`` itself: DDP assumes one forward and one backward
per step over one module.  The adversarial models take two updates per step with two optimizers
over overlapping graphs (the encoder / generator loss back-propagates through the discriminator
/ critic) and the gradient penalty differentiates twice; the explicit all-reduce of the
gradients does the same averaging without those constraints (as NVIDIA's StyleGAN2-ADA
training loop does).

References
----------
S. Li et al. PyTorch Distributed: experiences on accelerating data parallel training.
VLDB 2020.
T. Karras et al. Training generative adversarial networks with limited data (StyleGAN2-ADA,
its ``training_loop.py`` all-reduces flattened gradients). NeurIPS 2020.
"""
from __future__ import annotations

import os
import socket
import warnings

import torch
import torch.distributed as dist

from .penalties import gradient_penalty
from .train import FitResult, TrainConfig, fit_loop, require_int, resolve_device, torch_threads

__all__ = ["DistributedStep", "average_gradients", "backend_for", "check_supported",
           "fit_distributed", "free_port", "launch", "under_torchrun"]


def _gather(t: torch.Tensor) -> torch.Tensor:
    """Concatenate ``t`` of all ranks (rank order) keeping the autograd graph."""
    from torch.distributed.nn.functional import all_gather

    with warnings.catch_warnings():  # deprecated in favour of a private API; still correct
        warnings.filterwarnings("ignore", "torch.distributed.nn.functional.all_gather",
                                FutureWarning)
        # the group explicitly: the default argument is bound once, to the group alive at
        # import, which a later fit_distributed call (a new process group) no longer has
        return torch.cat(all_gather(t.contiguous(), group=dist.group.WORLD), 0)


def _gather_detached(t: torch.Tensor) -> torch.Tensor:
    """Concatenate ``t`` of all ranks (rank order), no gradient."""
    t = t.detach().contiguous()
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t)
    return torch.cat(parts, 0)


def average_gradients(params) -> None:
    r"""Replace each ``p.grad`` by its mean over the ranks of the default process group.

    .. math:: g \leftarrow \frac1W \sum_{r=0}^{W-1} g^{(r)}

    One all-reduce of the flattened gradients (one bucket, as DistributedDataParallel does);
    the result is bitwise the same on every rank.  A no-op in a group of one rank.

    Parameters
    ----------
    params : iterable of torch.nn.Parameter
        Parameters whose ``.grad`` is set (the same list, in the same order, on every rank);
        parameters without a gradient are skipped.

    Returns
    -------
    None
        The gradients are updated in place.

    Examples
    --------
    >>> import torch, torch.distributed as dist
    >>> from otgen.models.distributed import average_gradients, free_port
    >>> dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}",
    ...                         rank=0, world_size=1)
    >>> p = torch.nn.Parameter(torch.zeros(2)); p.grad = torch.tensor([1.0, 3.0])
    >>> average_gradients([p]); p.grad
    tensor([1., 3.])
    >>> dist.destroy_process_group()

    References
    ----------
    S. Li et al. PyTorch Distributed: experiences on accelerating data parallel training.
    VLDB 2020.
    """
    grads = [p.grad for p in params if p.grad is not None]
    world = dist.get_world_size()
    if not grads or world == 1:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


class DistributedStep:
    r"""One data-parallel training step of any model: ``step(global_batch, step, generator)``.

    Replaces :meth:`otgen.models.Objective.step` on each rank of the default process group:
    every rank receives the same global batch and the same ``(seed, step)`` generator, trains
    on its shard ``rows [r b, (r+1) b)`` and returns the loss terms of the *global* batch, so
    that with gradients averaged by :func:`average_gradients` (installed as
    ``objective.grad_sync``) every update equals the single-process update on the global batch:

    .. math:: \frac1W \sum_r \nabla_\theta L_r = \nabla_\theta L(\text{global batch}).

    Parameters
    ----------
    model : GenerativeModel
        Identical on every rank (same seed or the same checkpoint); its parameters are
        broadcast from rank 0 once more here, as DistributedDataParallel does.
    objective : Objective
        Its optimizers are stepped; its ``grad_sync`` is set to :func:`average_gradients`.

    Attributes
    ----------
    rank, world : int
        This process's rank and the number of ranks W.

    Examples
    --------
    >>> import torch, torch.distributed as dist
    >>> from otgen.models import Objective, build_model
    >>> from otgen.models.distributed import DistributedStep, free_port
    >>> dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}",
    ...                         rank=0, world_size=1)
    >>> m = build_model("vae", 3, latent_dim=2, hidden=(8,))
    >>> step = DistributedStep(m, Objective(m))
    >>> sorted(step(torch.rand(4, 3), 0, torch.Generator().manual_seed(0)))
    ['kl', 'loss', 'nll', 'recon']
    >>> dist.destroy_process_group()

    References
    ----------
    S. Li et al. PyTorch Distributed: experiences on accelerating data parallel training.
    VLDB 2020.
    """

    def __init__(self, model, objective):
        self.model, self.obj = model, objective
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        with torch.no_grad():
            for t in list(model.parameters()) + list(model.buffers()):
                dist.broadcast(t.detach(), 0)
        objective.grad_sync = average_gradients

    # -- helpers -----------------------------------------------------------------------------
    def _rows(self, t: torch.Tensor) -> torch.Tensor:
        b = t.shape[0] // self.world
        return t[self.rank * b:(self.rank + 1) * b]

    def _randn_rows(self, n: int, generator) -> torch.Tensor:
        """This rank's rows of a standard normal (n, d_z) draw, as Encoder.sample draws it."""
        return self._rows(torch.randn(n, self.model.latent_dim, generator=generator,
                                      device=self.model.device))

    def _global_mean(self, terms: dict) -> dict:
        """All-reduce mean over ranks of scalar tensors (detached; float64 on the wire)."""
        keys = list(terms)
        v = torch.stack([terms[k].detach().to(torch.float64) for k in keys])
        dist.all_reduce(v)
        v /= self.world
        return dict(zip(keys, v.unbind()))

    def _update(self, name, local_loss, global_loss, step, terms):
        if not torch.isfinite(global_loss):  # identical on all ranks: they all stop together
            self.obj.guarded_update(name, global_loss, step, terms)  # raises TrainingDivergedError
        self.obj.guarded_update(name, local_loss, step, terms)

    # -- one step ----------------------------------------------------------------------------
    def __call__(self, batch: torch.Tensor, step: int, generator=None) -> dict:
        """Train on this rank's shard of ``batch`` (n, d); return the global loss terms."""
        kind = self.model.kind
        x = self._rows(batch)
        if kind == "vae":
            return self._vae(x, batch.shape[0], step, generator)
        if kind == "wgan-gp":
            return self._wgan(x, batch.shape[0], step, generator)
        return self._wae(x, batch.shape[0], step, generator)

    def _wae(self, x, n, step, generator):
        m, obj = self.model, self.obj
        terms = {}
        adv = m.penalty.adversary
        stochastic = m.encoder.stochastic
        if adv is not None:  # WAE-GAN: the discriminator sees the global latent batch
            with torch.no_grad():
                mean, logvar = m.encoder(x)
                qz = mean if logvar is None else (
                    mean + torch.exp(0.5 * logvar) * self._randn_rows(n, generator))
            qz_all = _gather_detached(qz)
            pz_d = m.prior(n, generator)
            d_loss = adv.discriminator_loss(qz_all, pz_d)  # identical on every rank
            terms["disc"] = float(d_loss.detach())
            self._update("discriminator", d_loss, d_loss.detach(), step, terms)
        noise = self._randn_rows(n, generator) if stochastic else None
        pz = m.prior(n, generator)
        t = obj.wae_losses(x, generator, noise=noise, pz=pz, gather=_gather)
        recon = self._global_mean({"recon": t["recon"]})["recon"]
        pen = t["penalty"].detach().to(torch.float64)  # computed on the global batch
        loss = recon + obj.lam * pen
        terms.update({"loss": float(loss), "recon": float(recon), "penalty": float(pen)})
        self._update("autoencoder", t["loss"], loss, step, terms)
        return terms

    def _vae(self, x, n, step, generator):
        t = self.obj.vae_losses(x, generator, noise=self._randn_rows(n, generator))
        g = self._global_mean({k: t[k] for k in ("loss", "nll", "kl", "recon")})
        terms = {k: float(v) for k, v in g.items()}
        self._update("autoencoder", t["loss"], g["loss"], step, terms)
        return terms

    def _wgan(self, x, n, step, generator):
        m, obj = self.model, self.obj
        with torch.no_grad():
            y = m.decoder(self._rows(m.prior(n, generator)))
        gap = m.critic(x).mean() - m.critic(y).mean()
        # the weights t of x^ = t x + (1 - t) y: this rank's rows of the global draw that
        # gradient_penalty makes for the whole batch in one process (a per-sample mean, so the
        # mean over ranks equals the global-batch penalty)
        tw = self._rows(torch.rand(n, 1, generator=generator, dtype=x.dtype, device=x.device))
        gp = gradient_penalty(m.critic, x, y, t=tw)
        local = -gap + obj.gp_weight * gp
        g = self._global_mean({"loss": local, "gap": gap, "gp": gp})
        terms = {k: float(v) for k, v in g.items()}
        self._update("critic", local, g["loss"], step, terms)
        if step % obj.n_critic == 0:
            z = self._rows(m.prior(n, generator))
            gen = -m.critic(m.decoder(z)).mean()
            g_all = self._global_mean({"gen": gen})["gen"]
            terms["gen"] = float(g_all)
            self._update("generator", gen, g_all, step, terms)
        return terms


def check_supported(cfg: TrainConfig, world: int = 1) -> None:
    """Raise ValueError unless a validated config can train on ``world`` data-parallel ranks.

    Every model kind and penalty is supported; the global batch must split into ``world``
    equal shards of at least one row (two for the WAE penalties' per-rank codes).

    Parameters
    ----------
    cfg : TrainConfig
        A validated config (:meth:`TrainConfig.validate`).
    world : int
        Number of ranks W >= 1.

    Returns
    -------
    None

    Raises
    ------
    ValueError
        ``world`` < 1 (named ``nproc``) or ``batch_size`` not divisible by ``world``.

    Examples
    --------
    >>> from otgen.models import TrainConfig
    >>> from otgen.models.distributed import check_supported
    >>> check_supported(TrainConfig(model="wgan-gp", batch_size=64).validate(), 4)
    >>> check_supported(TrainConfig(batch_size=10).validate(), 4)
    Traceback (most recent call last):
    ...
    ValueError: batch_size=10 must be divisible by the number of processes (nproc=4)

    References
    ----------
    S. Li et al. PyTorch Distributed: experiences on accelerating data parallel training.
    VLDB 2020.
    """
    require_int(world, "nproc", 1)
    if cfg.batch_size % world:
        raise ValueError(f"batch_size={cfg.batch_size} must be divisible by the number of "
                         f"processes (nproc={world})")


def backend_for(device) -> str:
    """The torch.distributed backend for a training device: nccl for CUDA, gloo for the CPU.

    Parameters
    ----------
    device : str or torch.device
        A device accepted by :func:`otgen.models.train.resolve_device`.

    Returns
    -------
    str
        ``"nccl"`` or ``"gloo"``.

    Examples
    --------
    >>> from otgen.models.distributed import backend_for
    >>> backend_for("cpu")
    'gloo'

    References
    ----------
    PyTorch documentation, "Distributed communication package - torch.distributed"
    (Backends), https://pytorch.org/docs/stable/distributed.html
    """
    return "nccl" if resolve_device(device).type == "cuda" else "gloo"


def _rank_device(device) -> torch.device:
    """The device of this rank: ``cuda`` without index -> ``cuda:LOCAL_RANK``."""
    dev = resolve_device(device)
    if dev.type == "cuda" and dev.index is None:
        local, n_gpu = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
        if local >= n_gpu:
            raise ValueError(f"device={device!r}: local rank {local} has no CUDA device of its "
                             f"own ({n_gpu} on this machine; nccl needs one per process); use "
                             "fewer processes per node or device='cpu'")
        dev = torch.device("cuda", local)
    return dev


def _auto_device() -> str:
    """``"cuda"`` when every local rank can have its own GPU, else ``"cpu"``."""
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
    return "cuda" if torch.cuda.is_available() and torch.cuda.device_count() >= local_world \
        else "cpu"


def fit_distributed(config: TrainConfig | None = None, out_dir=None, *, data=None,
                    progress: bool = False, resume: bool = True, max_steps: int | None = None,
                    threads: int | None = None, device="auto") -> FitResult:
    r""":func:`otgen.models.fit` on every rank of a process group (data-parallel).

    Initializes the default process group from the torchrun environment (``env://``; gloo on
    the CPU, nccl on CUDA) when it is not initialized yet, and destroys it at the end.  Each
    step trains rank r on its shard of the global batch with :class:`DistributedStep`: the
    averaged gradient equals the single-process gradient on the global batch,

    .. math:: \frac1W \sum_{r} \nabla_\theta L_r = \nabla_\theta L(x_1, \dots, x_B).

    Parameters
    ----------
    config : TrainConfig, optional
        As for :func:`~otgen.models.fit`; ``batch_size`` is the *global* batch B and must be
        divisible by the number of ranks W.
    out_dir : str or Path, optional
        Run directory: rank 0 alone writes it; every rank reads its checkpoint on resume.
    data : DataSplit, optional
        The same data on every rank (default: loaded from ``config.data``).
    progress : bool
        Progress bar on rank 0.
    resume : bool
        False: ignore and overwrite an existing checkpoint.
    max_steps : int, optional
        Stop (and checkpoint) after this many steps in total.
    threads : int, optional
        torch CPU threads per rank during the call.
    device : str or torch.device
        ``"auto"`` (default): CUDA when the machine has a GPU for every local rank, else the
        CPU; ``"cpu"``; ``"cuda"`` (rank r uses ``cuda:LOCAL_RANK``); ``"cuda:N"``.

    Returns
    -------
    FitResult
        The same trained model (bitwise) on every rank; ``history`` holds the global loss
        terms.

    Raises
    ------
    ValueError
        Bad config, ``batch_size`` not divisible by W, bad ``device`` (unknown, CUDA missing,
        fewer GPUs than local ranks), and everything :func:`~otgen.models.fit` refuses.
    TrainingDivergedError
        On every rank at once.

    Examples
    --------
    A group of one process (torchrun starts W of them, each running the same call):

    >>> import os
    >>> from otgen.models import TrainConfig
    >>> from otgen.models.distributed import fit_distributed, free_port
    >>> os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()),
    ...                   RANK="0", WORLD_SIZE="1")
    >>> cfg = TrainConfig(model="vae", data="mixture", data_options={"n_train": 40, "n_test": 8},
    ...                   latent_dim=2, hidden=(8,), epochs=1, batch_size=20)
    >>> fit_distributed(cfg, device="cpu").step
    2

    References
    ----------
    S. Li et al. PyTorch Distributed: experiences on accelerating data parallel training.
    VLDB 2020.
    """
    cfg = (config or TrainConfig()).validate()
    owned = not dist.is_initialized()
    auto = isinstance(device, str) and device.strip().lower() == "auto"
    dev = _rank_device(_auto_device() if auto else device)
    if owned:
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend_for(dev))
    try:
        check_supported(cfg, dist.get_world_size())
        writer = dist.get_rank() == 0
        with torch_threads(threads):
            res = fit_loop(cfg, out_dir, data, progress, resume, max_steps,
                       make_stepper=DistributedStep, writer=writer, device=dev)
        dist.barrier()  # rank 0 has written its last checkpoint before anyone returns
    finally:
        if owned:
            dist.destroy_process_group()
    return res


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for ``MASTER_PORT``).

    Parameters
    ----------
    None

    Returns
    -------
    int
        A port number the OS just handed out (another process may take it later).

    Examples
    --------
    >>> from otgen.models.distributed import free_port
    >>> 0 < free_port() < 65536
    True

    References
    ----------
    The Linux ``bind(2)`` manual page: binding port 0 picks a free ephemeral port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def under_torchrun() -> bool:
    """True in a process started by torchrun with more than one process (``WORLD_SIZE > 1``).

    Parameters
    ----------
    None

    Returns
    -------
    bool

    Examples
    --------
    >>> from otgen.models.distributed import under_torchrun
    >>> isinstance(under_torchrun(), bool)
    True

    References
    ----------
    PyTorch documentation, "torchrun (Elastic Launch)": the environment variables it sets,
    https://pytorch.org/docs/stable/elastic/run.html
    """
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def launch(nproc: int, argv: list[str], module: str = "otgen") -> int:
    """Run ``python -m MODULE ARGV`` under torchrun with ``nproc`` processes on this machine.

    The rendezvous is 127.0.0.1 on a free port; the call waits for all processes.

    Parameters
    ----------
    nproc : int
        Number of processes (ranks), >= 1.
    argv : list of str
        Arguments after ``-m MODULE``, e.g. ``["train", "vae", "--out", "runs/vae"]``.
    module : str
        The module torchrun runs in every process (``"otgen"``: the CLI).

    Returns
    -------
    int
        The exit status of torchrun (0: every rank succeeded).

    Raises
    ------
    ValueError
        ``nproc`` < 1.

    Examples
    --------
    >>> from otgen.models.distributed import launch
    >>> launch(0, ["train", "vae"])
    Traceback (most recent call last):
    ...
    ValueError: nproc must be an integer >= 1, got 0

    References
    ----------
    PyTorch documentation, "torchrun (Elastic Launch)",
    https://pytorch.org/docs/stable/elastic/run.html
    """
    import subprocess
    import sys

    require_int(nproc, "nproc", 1)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
           "-m", module, *argv]
    return subprocess.call(cmd)
