r"""What a training step needs from its peers: one interface, a local and a torch.distributed one.

Every model's step (:mod:`otgen.models.specs`) is written once, against a :class:`Collective`:

* :meth:`~Collective.rows` -- this rank's contiguous shard of a global-batch tensor;
* :meth:`~Collective.gather` / :meth:`~Collective.gather_detached` -- the global batch of a
  per-rank tensor (with / without the autograd graph);
* :meth:`~Collective.mean` -- scalar loss terms averaged over the ranks (what is logged and
  guarded);
* :meth:`~Collective.average_gradients` -- the gradient average before every optimizer step;
* :meth:`~Collective.broadcast_parameters` -- one module made identical on every rank.

:class:`LocalCollective` (one process) makes each of these the identity or a no-op, so the
single-process step computes exactly what it computed before data parallelism existed;
:class:`TorchDistCollective` implements them with ``torch.distributed`` (gloo or nccl) so that
the averaged update on W ranks equals the single-process update on the global batch:

.. math:: \frac1W \sum_{r=0}^{W-1} \nabla_\theta L_r = \nabla_\theta L(x_1, \dots, x_B).

References
----------
S. Li et al. PyTorch Distributed: experiences on accelerating data parallel training.
VLDB 2020.
T. Karras et al. Training generative adversarial networks with limited data (StyleGAN2-ADA,
its ``training_loop.py`` all-reduces flattened gradients). NeurIPS 2020.
"""
from __future__ import annotations

import warnings
from typing import Protocol

import torch
import torch.distributed as dist

__all__ = ["Collective", "LOCAL", "LocalCollective", "TorchDistCollective", "average_gradients"]


class Collective(Protocol):
    """The communication a data-parallel training step uses (see the module docstring).

    Attributes
    ----------
    rank, world : int
        This process's rank and the number of ranks W.
    """

    rank: int
    world: int

    def rows(self, t: torch.Tensor) -> torch.Tensor:
        """This rank's rows ``[r b, (r + 1) b)`` of a global-batch tensor, b = len(t) / W."""

    def gather(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` of every rank, concatenated in rank order, keeping the autograd graph."""

    def gather_detached(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` of every rank, concatenated in rank order, without gradient."""

    def mean(self, terms: dict) -> dict:
        """Scalar tensors averaged over the ranks (detached)."""

    def average_gradients(self, params) -> None:
        """Replace each ``p.grad`` by its mean over the ranks."""

    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        """Make the parameters and buffers of ``module`` those of rank 0."""


class LocalCollective:
    """The collective of a single process: identities and no-ops (rank 0 of 1).

    Examples
    --------
    >>> import torch
    >>> from otgen.models.collective import LOCAL
    >>> t = torch.arange(4.0)
    >>> LOCAL.rows(t) is t, LOCAL.gather(t) is t, LOCAL.world
    (True, True, 1)
    """

    rank, world = 0, 1

    def rows(self, t):
        return t

    def gather(self, t):
        return t

    def gather_detached(self, t):
        return t.detach()

    def mean(self, terms: dict) -> dict:
        return {k: v.detach() for k, v in terms.items()}

    def average_gradients(self, params) -> None:
        return None

    def broadcast_parameters(self, module) -> None:
        return None


#: the single-process collective (stateless, shared)
LOCAL = LocalCollective()


class TorchDistCollective:
    """The collective of the default ``torch.distributed`` process group (gloo or nccl).

    ``gather`` is :func:`torch.distributed.nn.functional.all_gather` (its backward returns to
    each rank the sum over the ranks of the gradients of its rows); ``mean`` all-reduces the
    terms in float64; ``average_gradients`` is :func:`average_gradients`.

    Attributes
    ----------
    rank, world : int
        Read from the process group when the collective is created.

    Examples
    --------
    >>> import torch, torch.distributed as dist
    >>> from otgen.models.collective import TorchDistCollective
    >>> from otgen.models.distributed import free_port
    >>> dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}",
    ...                         rank=0, world_size=1)
    >>> c = TorchDistCollective()
    >>> c.world, c.mean({"loss": torch.tensor(2.0)})
    (1, {'loss': tensor(2., dtype=torch.float64)})
    >>> dist.destroy_process_group()
    """

    def __init__(self):
        self.rank, self.world = dist.get_rank(), dist.get_world_size()

    def rows(self, t):
        b = t.shape[0] // self.world
        return t[self.rank * b:(self.rank + 1) * b]

    def gather(self, t):
        from torch.distributed.nn.functional import all_gather

        with warnings.catch_warnings():  # deprecated in favour of a private API; still correct
            warnings.filterwarnings("ignore", "torch.distributed.nn.functional.all_gather",
                                    FutureWarning)
            # the group explicitly: the default argument is bound once, to the group alive at
            # import, which a later fit_distributed call (a new process group) no longer has
            return torch.cat(all_gather(t.contiguous(), group=dist.group.WORLD), 0)

    def gather_detached(self, t):
        t = t.detach().contiguous()
        parts = [torch.empty_like(t) for _ in range(self.world)]
        dist.all_gather(parts, t)
        return torch.cat(parts, 0)

    def mean(self, terms: dict) -> dict:
        keys = list(terms)
        v = torch.stack([terms[k].detach().to(torch.float64) for k in keys])
        dist.all_reduce(v)
        v /= self.world
        return dict(zip(keys, v.unbind()))

    def average_gradients(self, params) -> None:
        average_gradients(params)

    def broadcast_parameters(self, module) -> None:
        with torch.no_grad():
            for t in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(t.detach(), 0)


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
    >>> from otgen.models.collective import average_gradients
    >>> from otgen.models.distributed import free_port
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
