r"""What every model spec shares: optimizers, the guarded update, checkpointed optimizer state.

A spec (:class:`ModelSpec` subclass, one module per model kind) builds a kind's networks, its
optimizers and its training step.  The step is written once against a
:class:`~otgen.models.collective.Collective`: the single-process collective makes it the plain
minibatch step, ``torch.distributed``'s makes it the data-parallel step on a shard of the
global batch.  Every optimizer step goes through :meth:`ModelSpec.guarded_update`, which checks
the (global) loss and the (averaged) gradient norm *before* touching the parameters and raises
:class:`TrainingDivergedError` otherwise, so the model in memory and every checkpoint on disk
hold the last good parameters.
"""
from __future__ import annotations

import torch

from ..collective import LOCAL

#: optimizer families by TrainConfig.optimizer name
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


class TrainingDivergedError(RuntimeError):
    """A loss or gradient became NaN/inf; the parameters were left at their last good values.

    Parameters
    ----------
    message : str
        What diverged (loss name, value, step).
    step : int, optional
        Training step at which it happened (stored as ``.step``).
    terms : dict, optional
        The loss terms of that step (stored as ``.terms``).

    Examples
    --------
    >>> err = TrainingDivergedError("loss is nan", step=3, terms={"loss": float("nan")})
    >>> isinstance(err, RuntimeError), err.step, err.terms
    (True, 3, {'loss': nan})
    """

    def __init__(self, message: str, step: int | None = None, terms: dict | None = None):
        super().__init__(message)
        self.step, self.terms = step, terms or {}


def parameters(*modules) -> list:
    """The parameters of the given modules (None entries skipped), in order."""
    return [p for m in modules if m is not None for p in m.parameters()]


class ModelSpec:
    """Base of the model specs: optimizers over :meth:`param_groups`, the guarded update.

    Subclasses define ``kinds`` (the model names they serve), :meth:`build` (the networks),
    :meth:`param_groups` (one optimizer per group) and :meth:`step`; ``hyper`` names the
    :class:`~otgen.models.TrainConfig` fields their constructor takes besides the optimizer
    settings below.

    Parameters
    ----------
    model : GenerativeModel
        The model to train (its parameters are updated in place).
    lr, aux_lr, betas, weight_decay, optimizer, grad_clip
        The optimizer settings, as for :class:`~otgen.models.Objective` (``aux_lr``: the
        groups flagged in :meth:`param_groups`, default ``lr``).

    Attributes
    ----------
    optimizers : dict of str to torch.optim.Optimizer
        One per parameter group, in the order of :meth:`param_groups`.
    """

    kinds: tuple = ()
    hyper: tuple = ()
    #: the smallest batch the step accepts
    min_batch = 2

    def __init__(self, model, *, lr=1e-3, aux_lr=None, betas=(0.5, 0.999), weight_decay=0.0,
                 optimizer="adam", grad_clip=None):
        self.model, self.grad_clip = model, grad_clip
        opt_cls = OPTIMIZERS[optimizer]
        rates = {False: lr, True: lr if aux_lr is None else aux_lr}
        self.optimizers = {name: opt_cls(params, lr=rates[aux], betas=tuple(betas),
                                         weight_decay=weight_decay)
                           for name, (params, aux) in self.param_groups().items()}

    # -- what a kind defines -------------------------------------------------------------------
    @classmethod
    def build(cls, kind: str, nets, **options):
        """The untrained :class:`~otgen.models.GenerativeModel` of ``kind`` on ``nets``
        (an :class:`~otgen.models.networks.Architecture`); options that do not apply to the
        kind are ignored."""
        raise NotImplementedError

    @classmethod
    def config_defaults(cls, kind: str, penalty=None) -> dict:
        """The TrainConfig defaults this kind changes (``lr``, ``aux_lr``, ``betas``, ``lam``;
        see ``otgen.models.config.DEFAULTS``)."""
        return {}

    @classmethod
    def steps_per_epoch(cls, config, n_train: int) -> int:
        """Training steps in one epoch of ``config`` on ``n_train`` rows: one per minibatch,
        ``n_train // batch_size`` (a pass over the data)."""
        return n_train // config.batch_size

    @classmethod
    def resolve_penalty(cls, kind: str, penalty):
        """The latent penalty of a config (None for models without one); ValueError if bad."""
        if penalty is not None:
            raise ValueError(f"penalty is only for WAE models, not model={kind!r}")
        return None

    def param_groups(self) -> dict:
        """``{optimizer name: (parameters, uses aux_lr)}``."""
        raise NotImplementedError

    def step(self, batch, step: int, generator=None, collective=LOCAL) -> dict:
        """One training step on the global ``batch``; returns the global loss terms."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config, model) -> "ModelSpec":
        """The spec of a validated :class:`~otgen.models.TrainConfig` for ``model``."""
        return cls(model, lr=config.lr, aux_lr=config.aux_lr, betas=config.betas,
                   weight_decay=config.weight_decay, optimizer=config.optimizer,
                   grad_clip=config.grad_clip, **{k: getattr(config, k) for k in cls.hyper})

    # -- shared by every kind ------------------------------------------------------------------
    def noise(self, n: int, generator, collective=LOCAL) -> torch.Tensor:
        """This rank's rows of a standard normal (n, d_z) draw for the global batch."""
        m = self.model
        return collective.rows(torch.randn(n, m.latent_dim, generator=generator,
                                           device=m.device))

    def guarded_update(self, name: str, loss: torch.Tensor, step: int, terms: dict,
                       collective=LOCAL, check=None) -> None:
        """One optimizer step of ``name`` on ``loss``.

        ``check`` (default ``loss``) is the value whose finiteness is checked first: the global
        loss, identical on every rank, so all ranks stop together.  The gradients are averaged
        over the ranks before the norm check and clipping.  A non-finite value raises
        :class:`TrainingDivergedError` before any parameter changes."""
        check = loss if check is None else check
        if not torch.isfinite(check):
            raise TrainingDivergedError(
                f"training diverged at step {step}: the {name} loss is {float(check.detach())} "
                f"(terms {_fmt(terms)}); parameters and checkpoints keep their last good values",
                step, terms)
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
        collective.average_gradients(params)
        norm = torch.nn.utils.clip_grad_norm_(params, self.grad_clip or float("inf"))
        if not torch.isfinite(norm):
            opt.zero_grad(set_to_none=True)
            raise TrainingDivergedError(
                f"training diverged at step {step}: the {name} gradient norm is {float(norm)} "
                f"(terms {_fmt(terms)}); parameters and checkpoints keep their last good values",
                step, terms)
        opt.step()

    def state_dict(self) -> dict:
        return {k: o.state_dict() for k, o in self.optimizers.items()}

    def load_state_dict(self, state: dict) -> None:
        if set(state) != set(self.optimizers):
            raise ValueError(f"checkpoint optimizers {sorted(state)} do not match the model's "
                             f"{sorted(self.optimizers)}")
        for k, o in self.optimizers.items():
            o.load_state_dict(state[k])


def _fmt(terms: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in terms.items()) or "none"
