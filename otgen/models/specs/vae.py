r"""The VAE (Kingma & Welling 2014) with a Gaussian decoder :math:`N(G(z), s^2 I_d)`.

It minimizes the negative ELBO in nats,

.. math:: \mathbb{E}_{P_X}\Big[\mathbb{E}_{Q(Z|X)}\Big(\frac{\|X - G(Z)\|^2}{2 s^2}
          + \frac d2 \log(2\pi s^2)\Big) + \mathrm{KL}(Q(Z|X)\,\|\,P_Z)\Big].

Every term is a per-sample mean, so in data-parallel training each rank computes them on its
shard and the mean over the W equal shards is the global-batch value: nothing is gathered.
"""
from __future__ import annotations

import math

import torch

from ..collective import LOCAL
from ..model import GenerativeModel, reconstruction_cost
from ..penalties import kl_gaussian
from .base import ModelSpec, parameters


class VAESpec(ModelSpec):
    r"""Spec of the VAE: Gaussian encoder, decoder mean G, one optimizer "autoencoder".

    Parameters
    ----------
    model : GenerativeModel
        A VAE (Gaussian encoder, ``decoder_std`` = s).
    **optim
        The optimizer settings of :class:`~otgen.models.specs.base.ModelSpec`.

    Examples
    --------
    >>> import torch
    >>> from otgen.models import build_model
    >>> from otgen.models.specs import VAESpec
    >>> spec = VAESpec(build_model("vae", 3, latent_dim=2, hidden=(8,)))
    >>> sorted(spec.step(torch.rand(4, 3), 0, torch.Generator().manual_seed(0)))
    ['kl', 'loss', 'nll', 'recon']

    References
    ----------
    D. P. Kingma, M. Welling. Auto-encoding variational Bayes. ICLR 2014.
    """

    kinds = ("vae",)
    min_batch = 1

    @classmethod
    def build(cls, kind, nets, *, sigma_z=1.0, decoder_std=0.1, **_):
        dec = nets.decoder()
        enc = nets.encoder(stochastic=True)
        return GenerativeModel(kind, enc, dec, sigma_z=sigma_z, decoder_std=decoder_std,
                               image_shape=nets.image_shape)

    def param_groups(self):
        return {"autoencoder": (parameters(self.model.encoder, self.model.decoder), False)}

    def losses(self, x, generator=None, *, noise=None) -> dict:
        r"""Negative ELBO (nats per sample) = Gaussian NLL + KL, on a batch.

        .. math:: \frac1n \sum_i \Big(\frac{\|x_i - G(z_i)\|^2}{2 s^2}
                  + \frac d2 \log(2\pi s^2) + \mathrm{KL}(Q(Z|x_i) \| P_Z)\Big),
                  \quad z_i = \mu(x_i) + e^{\ell(x_i)/2} \odot \xi_i.

        Parameters
        ----------
        x : tensor (n, d)
        generator : torch.Generator, optional
            Source of the encoder noise :math:`\xi` when ``noise`` is None.
        noise : tensor (n, d_z), optional
            Standard normal encoder noise; default: drawn from ``generator``.

        Returns
        -------
        dict
            ``loss`` (nats per sample), ``nll``, ``kl``, ``recon`` (mean squared error sum per
            sample), scalars with graph.
        """
        m = self.model
        mean, logvar = m.encoder(x)
        if noise is None:
            noise = torch.randn(mean.shape, generator=generator, device=mean.device)
        z = mean + torch.exp(0.5 * logvar) * noise
        s2 = m.decoder_std ** 2
        sq = reconstruction_cost(x, m.decoder(z), "squared")
        nll = (sq / (2 * s2) + 0.5 * x.shape[1] * math.log(2 * math.pi * s2)).mean()
        kl = kl_gaussian(mean, logvar, m.sigma_z)
        return {"loss": nll + kl, "nll": nll, "kl": kl, "recon": sq.mean()}

    def step(self, batch, step, generator=None, collective=LOCAL):
        """One update on the negative ELBO; returns ``loss``, ``nll``, ``kl``, ``recon``."""
        n = batch.shape[0]
        t = self.losses(collective.rows(batch), generator,
                        noise=self.noise(n, generator, collective))
        g = collective.mean(t)
        terms = {k: float(v) for k, v in g.items()}
        self.guarded_update("autoencoder", t["loss"], step, terms, collective, check=g["loss"])
        return terms
