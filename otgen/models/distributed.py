r"""Data-parallel training of every model (WAE-MMD, WAE, WAE-GAN, VAE, WGAN-GP) on W ranks.

Launch any of these ways (see docs/guide-distributed.md)::

    otgen train wae-gan --data digits --epochs 100 --out runs/aae --nproc 4
    torchrun --standalone --nproc_per_node 4 -m otgen.train wae-gan --data digits --out runs/aae
    torchrun --standalone --nproc_per_node 4 -m otgen train wae-gan --data digits --out runs/aae

Backend: gloo on the CPU, nccl when the training device is CUDA (rank r uses ``cuda:LOCAL_RANK``).
There is one step per model, its spec's (:mod:`otgen.models.specs`), run here with a
:class:`~otgen.models.collective.TorchDistCollective` instead of the single process's no-op
collective.  What each step does, on every one of the W ranks:

* the global batch of ``batch_size`` rows is cut from the same seed-based permutation as in a
  single-process run; rank r takes the contiguous shard ``rows [r b, (r+1) b)``, b = B / W
  (``batch_size`` must be divisible by W);
* all step noise (prior draws, encoder noise, sliced projections, gradient-penalty weights) comes
  from the same ``(seed, step)`` generator on every rank, drawn for the *global* batch, in the
  order of the single-process step; each rank uses its slice of
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

import torch
import torch.distributed as dist

from .._validate import check_int
from .collective import TorchDistCollective, average_gradients
from .._threads import torch_threads
from .train import FitResult, TrainConfig, fit_loop, resolve_device

__all__ = ["DistributedStep", "average_gradients", "backend_for", "check_supported",
           "fit_distributed", "free_port", "launch", "under_torchrun"]


class DistributedStep:
    r"""One data-parallel training step of any model: ``step(global_batch, step, generator)``.

    The model's spec step (:mod:`otgen.models.specs`) run with a
    :class:`~otgen.models.collective.TorchDistCollective` over the default process group:
    every rank receives the same global batch and the same ``(seed, step)`` generator, trains
    on its shard ``rows [r b, (r+1) b)`` and returns the loss terms of the *global* batch;
    gradients are averaged over the ranks before every update, so each update equals the
    single-process update on the global batch:

    .. math:: \frac1W \sum_r \nabla_\theta L_r = \nabla_\theta L(\text{global batch}).

    Parameters
    ----------
    model : GenerativeModel
        Identical on every rank (same seed or the same checkpoint); its parameters are
        broadcast from rank 0 once more here, as DistributedDataParallel does.
    objective : ModelSpec or Objective
        The model's spec (or its :class:`~otgen.models.Objective` front); its optimizers are
        stepped.

    Attributes
    ----------
    rank, world : int
        This process's rank and the number of ranks W.
    spec : ModelSpec
        The spec whose step runs.

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
        self.collective = TorchDistCollective()
        self.rank, self.world = self.collective.rank, self.collective.world
        self.spec = getattr(objective, "spec", objective)
        self.collective.broadcast_parameters(model)

    def __call__(self, batch: torch.Tensor, step: int, generator=None) -> dict:
        """Train on this rank's shard of ``batch`` (n, d); return the global loss terms."""
        return self.spec.step(batch, step, generator, self.collective)


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
    check_int(world, "nproc", 1)
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
    step trains rank r on its shard of the global batch: the model's spec step with a
    :class:`~otgen.models.collective.TorchDistCollective` (as :class:`DistributedStep`); the
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
                           collective=TorchDistCollective(), writer=writer, device=dev)
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
    ValueError: nproc must be >= 1, got 0

    References
    ----------
    PyTorch documentation, "torchrun (Elastic Launch)",
    https://pytorch.org/docs/stable/elastic/run.html
    """
    import subprocess
    import sys

    check_int(nproc, "nproc", 1)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
           "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
           "-m", module, *argv]
    return subprocess.call(cmd)
