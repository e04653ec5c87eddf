r"""The models and their training objectives: penalized OT (WAE-MMD, WAE-GAN = AAE), VAE, WGAN-GP.

* Penalized OT (Bousquet et al. 2017, Sec. 4; Tolstikhin et al. 2018):

  .. math:: \min_{Q, G}\ \mathbb{E}_{P_X}\mathbb{E}_{Q(Z|X)} c(X, G(Z)) + \lambda F(Q_Z, P_Z)

  with c squared (:math:`\|x-y\|^2`, the W_2^2 cost), L2 (:math:`\|x-y\|`, the W_1 cost) or L1,
  and F from :mod:`otgen.models.penalties`.  ``"wae-mmd"`` uses F = MMD (IMQ), ``"wae-gan"``
  the latent JS game (with the squared cost this is the adversarial auto-encoder).
* VAE (Kingma & Welling 2014) with Gaussian decoder :math:`N(G(z), s^2 I_d)`: minimizes the
  negative ELBO in nats.
* WGAN-GP (Gulrajani et al. 2017): critic f maximizes
  :math:`\mathbb{E} f(X) - \mathbb{E} f(G(Z)) - \rho\, \mathrm{GP}`; the generator minimizes
  :math:`-\mathbb{E} f(G(Z))`, once every ``n_critic`` critic updates.

Each kind is one spec in :mod:`otgen.models.specs` (networks, optimizers, step); this module
is the front every caller used before the specs: :func:`build_model` and :class:`Objective`
dispatch to the spec of the model's kind.  Every update checks that the loss and the gradient
norm are finite *before* touching the parameters; otherwise it raises
:class:`TrainingDivergedError`, so the model in memory and every checkpoint on disk hold the
last good parameters.
"""
from __future__ import annotations

from .model import COSTS, GenerativeModel, reconstruction_cost
from .networks import Architecture
from .specs import (DEFAULT_PENALTY, MODELS, ModelSpec, TrainingDivergedError, VAESpec, WAESpec,
                    WGANSpec, spec_for)

__all__ = ["COSTS", "DEFAULT_PENALTY", "MODELS", "GenerativeModel", "Objective",
           "TrainingDivergedError", "build_model", "reconstruction_cost"]


def build_model(kind: str, data_dim: int, *, latent_dim: int = 8, hidden=(256, 256),
                arch: str = "mlp", image_shape=None, output: str = "sigmoid",
                penalty: str | None = None, sigma_z: float = 1.0, decoder_std: float = 0.1,
                stochastic_encoder: bool = False, penalty_options: dict | None = None,
                ) -> GenerativeModel:
    r"""Networks for a model ``kind`` (see :data:`MODELS`); the VAE gets a Gaussian encoder.

    ``"wae-mmd"``, ``"wae-gan"``, ``"wae"``: encoder, decoder and latent penalty F (penalized
    OT, :math:`\mathbb{E}\,c(X, G(Z)) + \lambda F(Q_Z, P_Z)`); ``"vae"``: Gaussian encoder and
    decoder :math:`N(G(z), s^2 I)`; ``"wgan-gp"``: decoder (generator) and critic.

    Parameters
    ----------
    kind : str
        One of :data:`MODELS`.
    data_dim : int
        d, the dimension of a flattened sample.
    latent_dim : int
        :math:`d_z`.
    hidden : tuple of int
        Widths of the hidden layers (MLP).
    arch : {"mlp", "conv"}
        Network family (``"conv"`` needs ``image_shape``).
    image_shape : (h, w), optional
        Image size, for conv networks and plots.
    output : str
        Decoder output activation (``"sigmoid"`` for pixels in [0, 1]).
    penalty : str, optional
        Latent penalty F of WAE models (default: MMD for wae-mmd, the JS game for wae-gan).
    sigma_z : float
        Prior standard deviation.
    decoder_std : float
        s of the VAE decoder, in data units.
    stochastic_encoder : bool
        Gaussian (instead of deterministic) encoder for WAE models.
    penalty_options : dict, optional
        Extra keyword arguments of :class:`Penalty`.

    Returns
    -------
    GenerativeModel
        Untrained, on the CPU.

    Examples
    --------
    >>> vae = build_model("vae", 64, latent_dim=2, hidden=(32,))
    >>> vae.kind, vae.has_encoder, vae.decoder_std
    ('vae', True, 0.1)
    >>> build_model("wgan-gp", 4, latent_dim=2, hidden=(16,)).has_encoder
    False

    References
    ----------
    I. Tolstikhin et al. Wasserstein Auto-Encoders. ICLR 2018.  A. Makhzani et al. Adversarial
    Autoencoders. ICLR Workshop 2016.  D. P. Kingma, M. Welling. Auto-Encoding Variational
    Bayes. ICLR 2014.  I. Gulrajani et al. Improved training of Wasserstein GANs. NeurIPS 2017.
    """
    nets = Architecture(data_dim, latent_dim, tuple(hidden), arch, image_shape, output)
    return spec_for(kind).build(kind, nets, penalty=penalty, sigma_z=sigma_z,
                                decoder_std=decoder_std, stochastic_encoder=stochastic_encoder,
                                penalty_options=penalty_options)


class Objective:
    r"""Optimizers and one training step for a :class:`GenerativeModel` (its kind's spec).

    A thin front to the model's spec (:mod:`otgen.models.specs`), kept for the callers that
    construct one object for any kind with every hyper-parameter; the spec does the work and
    its attributes (``lam``, ``cost``, ``n_critic``, ...) read through.  The losses are those
    of the module docstring: penalized OT :math:`\mathbb{E}\,c(X, G(Z)) + \lambda F(Q_Z, P_Z)`
    (WAE), the negative ELBO in nats (VAE), and the WGAN-GP critic / generator losses.

    Parameters
    ----------
    model : GenerativeModel
        The model to train (its parameters are updated in place).
    lr, aux_lr : float
        Learning rates of the main nets and of the critic / discriminator (default: ``lr``).
    betas : (float, float)
        Adam betas.
    weight_decay : float
        Weight decay of the optimizers.
    optimizer : {"adam", "adamw"}
        Optimizer family.
    lam : float
        :math:`\lambda`, weight of the penalty F (WAE).
    cost : {"squared", "l2", "l1"}
        Reconstruction cost c (WAE).
    n_critic : int
        Critic updates per generator update (WGAN-GP).
    gp_weight : float
        Gradient-penalty weight :math:`\rho` (WGAN-GP).
    grad_clip : float or None
        Clip the gradient norm of each update.

    Attributes
    ----------
    optimizers : dict of str to torch.optim.Optimizer
        ``"autoencoder"`` (+ ``"discriminator"`` for WAE-GAN) or ``"generator"`` and
        ``"critic"`` (WGAN-GP).
    spec : ModelSpec
        The spec of ``model.kind`` (:func:`otgen.models.specs.spec_for`) doing the work.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> obj = Objective(build_model("wae-mmd", 4, latent_dim=2, hidden=(16,)), lam=1.0)
    >>> terms = obj.step(torch.rand(8, 4), step=0)      # one update; the loss terms as floats
    >>> sorted(terms), sorted(obj.optimizers)
    (['loss', 'penalty', 'recon'], ['autoencoder'])

    References
    ----------
    I. Tolstikhin et al. Wasserstein Auto-Encoders. ICLR 2018.  D. P. Kingma, M. Welling.
    Auto-Encoding Variational Bayes. ICLR 2014.  I. Gulrajani et al. Improved training of
    Wasserstein GANs. NeurIPS 2017.  D. P. Kingma, J. Ba. Adam. ICLR 2015.
    """

    def __init__(self, model: GenerativeModel, *, lr=1e-3, aux_lr=None, betas=(0.5, 0.999),
                 weight_decay=0.0, optimizer="adam", lam=10.0, cost="squared", n_critic=5,
                 gp_weight=10.0, grad_clip=None):
        cls = spec_for(model.kind)
        hyper = {"lam": lam, "cost": cost, "n_critic": n_critic, "gp_weight": gp_weight}
        self.spec: ModelSpec = cls(model, lr=lr, aux_lr=aux_lr, betas=betas,
                                   weight_decay=weight_decay, optimizer=optimizer,
                                   grad_clip=grad_clip, **{k: hyper[k] for k in cls.hyper})

    def __getattr__(self, name):  # model, optimizers, lam, cost, n_critic, ...: the spec's
        if name == "spec":
            raise AttributeError(name)
        return getattr(self.spec, name)

    def step(self, x, step: int, generator=None) -> dict:
        """One training step on batch ``x``; returns the loss terms as floats."""
        return self.spec.step(x, step, generator)

    def guarded_update(self, name: str, loss, step: int, terms: dict) -> None:
        """One optimizer step of ``name`` on ``loss``; a non-finite loss or gradient norm
        raises :class:`TrainingDivergedError` before any parameter changes."""
        self.spec.guarded_update(name, loss, step, terms)

    def wae_losses(self, x, generator=None, **kw) -> dict:
        """The penalized OT terms of a WAE model (:meth:`WAESpec.losses`)."""
        return self._spec_of(WAESpec).losses(x, generator, **kw)

    def vae_losses(self, x, generator=None, **kw) -> dict:
        """The negative ELBO terms of a VAE (:meth:`VAESpec.losses`)."""
        return self._spec_of(VAESpec).losses(x, generator, **kw)

    def wgan_losses(self, x, generator=None) -> dict:
        """The WGAN-GP critic terms (:meth:`WGANSpec.critic_losses`)."""
        return self._spec_of(WGANSpec).critic_losses(x, generator)

    def state_dict(self) -> dict:
        return self.spec.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.spec.load_state_dict(state)

    def _spec_of(self, cls):
        if not isinstance(self.spec, cls):
            raise ValueError(f"a {self.spec.model.kind} model has no {cls.__name__} losses")
        return self.spec
