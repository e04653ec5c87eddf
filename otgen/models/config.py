"""The training configuration: :class:`TrainConfig`, its defaults and its validation.

A config is data (JSON in ``config.json``, or the command line), so every bad field is a
``ValueError`` naming the field.  Model-specific defaults come from the model's spec
(``ModelSpec.config_defaults`` in :mod:`otgen.models.specs`) over ``DEFAULTS``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .._validate import check_choice, check_int, check_positive
from .model import COSTS
from .networks import ARCHS
from .specs import SPECS, spec_for
from .specs.base import OPTIMIZERS

#: the defaults of the fields a model's spec may change (``ModelSpec.config_defaults``)
DEFAULTS = {"lr": 1e-3, "betas": (0.9, 0.999), "lam": 10.0}
#: the keys of ``TrainConfig.penalty_options``
PENALTY_OPTIONS = ("scales", "n_projections", "eps")


@dataclass
class TrainConfig:
    r"""Everything that defines a training run (JSON-serializable).

    Parameters
    ----------
    model : {"wae-mmd", "wae-gan", "wae", "vae", "wgan-gp"}
        ``"wae"`` takes any ``penalty``; ``"wae-mmd"``/``"wae-gan"`` fix it to mmd / gan.
    data : str
        ``"digits"``, ``"mixture"``, ``"circle"``, ``"sphere"``, ``"torus"``, ``"swiss-roll"`` or
        a path to MNIST files (see :func:`otgen.models.data.get_data`).
    data_options : dict
        Keyword arguments of the data loader (``n_train``, ``k``, ``ambient_dim``, ...).
    latent_dim : int
    hidden : tuple of int
        Hidden widths of every MLP (encoder, decoder, critic, discriminator).
    arch : {"mlp", "conv"}
    epochs, batch_size : int
        One epoch = ``n_train // batch_size`` steps (the last partial batch is dropped); for
        WGAN-GP that many generator updates, ``n_critic`` times as many steps.
    lr, aux_lr : float or None
        Learning rates of the main nets and of the critic / latent discriminator (None: lr
        1e-3; aux_lr = lr, or 5e-4 for WAE-GAN as in Tolstikhin et al.).
    betas : (float, float) or None
        Adam betas (None: (0.9, 0.999); WAE-GAN (0.5, 0.999); WGAN-GP (0.5, 0.9)).
    weight_decay : float
    optimizer : {"adam", "adamw"}
    lam : float or None
        Penalty weight lambda (None: 10, or 1 for the gan and kl penalties).
    penalty : str or None
        One of :data:`otgen.models.penalties.PENALTIES` (WAE models only).
    penalty_options : dict
        ``scales`` (MMD), ``n_projections`` (sliced), ``eps`` (sinkhorn).
    cost : {"squared", "l2", "l1"}
        Reconstruction cost c of the WAE objective.
    sigma_z : float
        Prior :math:`P_Z = N(0, \sigma_z^2 I)`.
    decoder_std : float
        s of the VAE's Gaussian decoder :math:`N(G(z), s^2 I)`.
    stochastic_encoder : bool
        Gaussian encoder for WAE models (always True for the VAE and penalty="kl").
    n_critic, gp_weight : WGAN-GP critic steps per generator step and GP weight.
    grad_clip : float or None
    seed : int
    checkpoint_every : int
        Steps between checkpoints (a checkpoint is also written at the end).
    log_every : int
        Steps between metrics lines.

    Examples
    --------
    >>> cfg = TrainConfig(model="wae-gan", epochs=5).validate()   # defaults resolved
    >>> cfg.penalty, cfg.lam, cfg.aux_lr, cfg.betas
    ('gan', 1.0, 0.0005, (0.5, 0.999))
    >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
    True

    References
    ----------
    I. Tolstikhin, O. Bousquet, S. Gelly, B. Schölkopf. Wasserstein Auto-Encoders. ICLR 2018
    (the WAE-GAN / WAE-MMD defaults).  I. Gulrajani et al. Improved training of Wasserstein
    GANs. NeurIPS 2017 (the WGAN-GP defaults).
    """

    model: str = "wae-mmd"
    data: str = "digits"
    data_options: dict = field(default_factory=dict)
    latent_dim: int = 8
    hidden: tuple = (256, 256)
    arch: str = "mlp"
    epochs: int = 100
    batch_size: int = 100
    lr: float | None = None
    aux_lr: float | None = None
    betas: tuple | None = None
    weight_decay: float = 0.0
    optimizer: str = "adam"
    lam: float | None = None
    penalty: str | None = None
    penalty_options: dict = field(default_factory=dict)
    cost: str = "squared"
    sigma_z: float = 1.0
    decoder_std: float = 0.1
    stochastic_encoder: bool = False
    n_critic: int = 5
    gp_weight: float = 10.0
    grad_clip: float | None = None
    seed: int = 0
    checkpoint_every: int = 200
    log_every: int = 50

    # -- validation ------------------------------------------------------------------------
    def validate(self) -> "TrainConfig":
        """Return a copy with defaults resolved; ValueError naming any bad field."""
        c = dataclasses.replace(self, hidden=tuple(self.hidden),
                                data_options=dict(self.data_options),
                                penalty_options=dict(self.penalty_options))
        _config_check(check_choice, c.model, "model", SPECS)
        _check_fields(c)
        spec = spec_for(c.model)
        c.penalty = spec.resolve_penalty(c.model, c.penalty)
        defaults = {**DEFAULTS, **spec.config_defaults(c.model, c.penalty)}
        c.lr = defaults["lr"] if c.lr is None else c.lr
        c.aux_lr = defaults.get("aux_lr", c.lr) if c.aux_lr is None else c.aux_lr
        c.betas = defaults["betas"] if c.betas is None else c.betas
        c.lam = defaults["lam"] if c.lam is None else c.lam
        _check_optimization(c)
        return c

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        d["betas"] = list(self.betas) if self.betas is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        if not isinstance(d, dict):
            raise ValueError(f"a config must be a JSON object, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown config field(s) {sorted(unknown)}")
        d = dict(d)
        if d.get("hidden") is not None:
            d["hidden"] = tuple(d["hidden"])
        if d.get("betas") is not None:
            d["betas"] = tuple(d["betas"])
        return cls(**d)


def _config_check(check, value, name, *args, **kw):
    """An ``otgen._validate`` check of a config field; a wrong type is a ValueError too (a
    config is data, read from JSON or the command line)."""
    try:
        return check(value, name, *args, **kw)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


def _check_fields(c: TrainConfig) -> None:
    """The fields every model has: choices, counts, widths and scales."""
    _config_check(check_choice, c.arch, "arch", ARCHS)
    _config_check(check_choice, c.optimizer, "optimizer", tuple(OPTIMIZERS))
    _config_check(check_choice, c.cost, "cost", COSTS)
    for name in ("latent_dim", "epochs", "batch_size", "n_critic", "checkpoint_every",
                 "log_every"):
        _config_check(check_int, getattr(c, name), name, 1)
    _config_check(check_int, c.seed, "seed", 0)
    if not c.hidden or any(isinstance(h, bool) or not isinstance(h, (int, np.integer))
                           or h < 1 for h in c.hidden):
        raise ValueError(f"hidden must be a non-empty tuple of positive integers, got "
                         f"{c.hidden!r}")
    c.hidden = tuple(int(h) for h in c.hidden)
    for name in ("sigma_z", "decoder_std"):
        _config_check(check_positive, getattr(c, name), name)
    for name in ("weight_decay", "gp_weight"):
        _config_check(check_positive, getattr(c, name), name, strict=False)


def _check_optimization(c: TrainConfig) -> None:
    """The resolved learning rates, betas, penalty weight, clipping and penalty options."""
    _config_check(check_positive, c.lr, "lr")
    _config_check(check_positive, c.aux_lr, "aux_lr")
    if len(tuple(c.betas)) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1
                                           for b in c.betas):
        raise ValueError(f"betas must be two numbers in [0, 1), got {c.betas!r}")
    c.betas = tuple(float(b) for b in c.betas)
    _config_check(check_positive, c.lam, "lam", strict=False)
    _config_check(check_positive, c.grad_clip, "grad_clip", allow_none=True)
    unknown = set(c.penalty_options) - set(PENALTY_OPTIONS)
    if unknown:
        raise ValueError(f"unknown penalty_options {sorted(unknown)}; expected some of "
                         f"{sorted(PENALTY_OPTIONS)}")
