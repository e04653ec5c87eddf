r"""WGAN-GP (Gulrajani et al. 2017): a generator G and a critic f on the data space.

The critic maximizes :math:`\mathbb{E} f(X) - \mathbb{E} f(G(Z)) - \rho\, \mathrm{GP}`; the
generator minimizes :math:`-\mathbb{E} f(G(Z))`, once every ``n_critic`` critic updates.  Every
term is a per-sample mean, so in data-parallel training each rank computes them on its rows of
the global batch (and of the global draws of Z and of the interpolation weights).

An epoch is ``n_train // batch_size`` *generator* updates, i.e. ``n_critic`` passes over the
data (:meth:`WGANSpec.steps_per_epoch`), so that ``epochs`` buys every model as many updates of
its generator.  Counting critic steps instead left WGAN-GP with a fifth of the generator
updates of the other models (280 in 100 epochs on digits) and mode-collapsed samples; see
docs/models.md, "WGAN-GP defaults".
"""
from __future__ import annotations

import torch

from ..collective import LOCAL
from ..model import GenerativeModel
from ..penalties import gradient_penalty
from .base import ModelSpec, parameters


class WGANSpec(ModelSpec):
    r"""Spec of WGAN-GP: generator and critic, optimizers "generator" and "critic".

    Parameters
    ----------
    model : GenerativeModel
        A WGAN-GP model (decoder = generator, critic).
    n_critic : int
        Critic updates per generator update (each on its own minibatch, as in Gulrajani et
        al.'s Algorithm 1); one epoch is ``n_critic`` passes over the data.
    gp_weight : float
        Gradient-penalty weight :math:`\rho`.
    **optim
        The optimizer settings of :class:`~otgen.models.specs.base.ModelSpec`.

    Examples
    --------
    >>> import torch
    >>> from otgen.models import build_model
    >>> from otgen.models.specs import WGANSpec
    >>> spec = WGANSpec(build_model("wgan-gp", 3, latent_dim=2, hidden=(8,)), n_critic=2)
    >>> sorted(spec.step(torch.rand(4, 3), 0, torch.Generator().manual_seed(0)))
    ['gap', 'gen', 'gp', 'loss']

    References
    ----------
    I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin, A. Courville. Improved training of
    Wasserstein GANs. NeurIPS 2017.
    """

    kinds = ("wgan-gp",)
    hyper = ("n_critic", "gp_weight")

    def __init__(self, model, *, n_critic=5, gp_weight=10.0, **optim):
        self.n_critic, self.gp_weight = int(n_critic), float(gp_weight)
        super().__init__(model, **optim)

    @classmethod
    def build(cls, kind, nets, *, sigma_z=1.0, **_):
        dec = nets.decoder()
        return GenerativeModel(kind, None, dec, critic=nets.critic(), sigma_z=sigma_z,
                               image_shape=nets.image_shape)

    @classmethod
    def config_defaults(cls, kind, penalty=None):
        # lr: the common 1e-3 (the paper's 1e-4 is for its conv nets; with these MLPs it left
        # the digits generator far from converged); betas: the paper's (0.5, 0.9)
        return {"betas": (0.5, 0.9)}

    @classmethod
    def steps_per_epoch(cls, config, n_train):
        """``n_critic`` steps per minibatch: an epoch is ``n_train // batch_size`` generator
        updates (``n_critic`` passes over the data)."""
        return config.n_critic * (n_train // config.batch_size)

    def param_groups(self):
        return {"generator": (parameters(self.model.decoder), False),
                "critic": (parameters(self.model.critic), True)}

    def critic_losses(self, x, generator=None, collective=LOCAL, n=None) -> dict:
        """Critic loss E f(G(Z)) - E f(X) + rho GP, the gap E f(X) - E f(G(Z)) and GP on this
        rank's rows ``x`` of a global batch of ``n`` rows (default: ``x`` is the batch)."""
        m = self.model
        n = x.shape[0] if n is None else n
        with torch.no_grad():
            y = m.decoder(collective.rows(m.prior(n, generator)))
        gap = m.critic(x).mean() - m.critic(y).mean()
        # the weights t of x^ = t x + (1 - t) y: this rank's rows of one global draw (a
        # per-sample mean, so the mean over ranks equals the global-batch penalty)
        t = collective.rows(torch.rand(n, 1, generator=generator, dtype=x.dtype,
                                       device=x.device))
        gp = gradient_penalty(m.critic, x, y, t=t)
        return {"loss": -gap + self.gp_weight * gp, "gap": gap, "gp": gp}

    def step(self, batch, step, generator=None, collective=LOCAL):
        """A critic update, and a generator update when ``step % n_critic == 0``; returns
        ``loss``, ``gap``, ``gp`` (+ ``gen`` on generator steps)."""
        m, n = self.model, batch.shape[0]
        t = self.critic_losses(collective.rows(batch), generator, collective, n)
        g = collective.mean(t)
        terms = {k: float(v) for k, v in g.items()}
        self.guarded_update("critic", t["loss"], step, terms, collective, check=g["loss"])
        if step % self.n_critic == 0:
            gen = -m.critic(m.decoder(collective.rows(m.prior(n, generator)))).mean()
            g_all = collective.mean({"gen": gen})["gen"]
            terms["gen"] = float(g_all)
            self.guarded_update("generator", gen, step, terms, collective, check=g_all)
        return terms
