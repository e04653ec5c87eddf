r"""Penalized OT: WAE-MMD, WAE-GAN (= AAE with the squared cost) and WAE with any penalty F.

.. math:: \min_{Q, G}\ \mathbb{E}_{P_X}\mathbb{E}_{Q(Z|X)} c(X, G(Z)) + \lambda F(Q_Z, P_Z)

(Bousquet et al. 2017, Sec. 4; Tolstikhin et al. 2018), with c from
:func:`~otgen.models.model.reconstruction_cost` and F a
:class:`~otgen.models.penalties.Penalty`.  The three kinds share the encoder / decoder step;
the penalty decides the rest: ``"wae-mmd"`` uses F = MMD (IMQ), ``"wae-gan"`` the latent JS
game, whose discriminator gets its own update before the auto-encoder's, and ``"wae"`` any
penalty.  In data-parallel training F sees the global latent batch: the codes (and, for
``kl``, the encoder means and log-variances) are all-gathered with their gradients.
"""
from __future__ import annotations

import torch

from ..collective import LOCAL
from ..model import GenerativeModel, reconstruction_cost
from ..penalties import PENALTIES, Penalty
from .base import ModelSpec, parameters

#: the penalty of each WAE kind when the config names none
DEFAULT_PENALTY = {"wae-mmd": "mmd", "wae-gan": "gan", "wae": "mmd"}
#: lambda of the penalties whose scale differs from the MMD's (default 10)
DEFAULT_LAM = {"gan": 1.0, "kl": 1.0}


class WAESpec(ModelSpec):
    r"""Spec of the WAE kinds: encoder, decoder, penalty F; optimizers "autoencoder" (+
    "discriminator" for the latent game).

    Parameters
    ----------
    model : GenerativeModel
        A WAE model (encoder, decoder, penalty).
    lam : float
        :math:`\lambda`, the weight of F.
    cost : {"squared", "l2", "l1"}
        The reconstruction cost c.
    **optim
        The optimizer settings of :class:`~otgen.models.specs.base.ModelSpec`.

    Examples
    --------
    >>> import torch
    >>> from otgen.models import build_model
    >>> from otgen.models.specs import WAESpec
    >>> _ = torch.manual_seed(0)
    >>> spec = WAESpec(build_model("wae-gan", 4, latent_dim=2, hidden=(8,)), lam=1.0)
    >>> sorted(spec.step(torch.rand(6, 4), 0, torch.Generator().manual_seed(0)))
    ['disc', 'loss', 'penalty', 'recon']

    References
    ----------
    I. Tolstikhin, O. Bousquet, S. Gelly, B. Schölkopf. Wasserstein Auto-Encoders. ICLR 2018.
    A. Makhzani et al. Adversarial autoencoders. ICLR workshop 2016.
    """

    kinds = tuple(DEFAULT_PENALTY)
    hyper = ("lam", "cost")

    def __init__(self, model, *, lam=10.0, cost="squared", **optim):
        self.lam, self.cost = float(lam), cost
        super().__init__(model, **optim)

    @classmethod
    def build(cls, kind, nets, *, sigma_z=1.0, penalty=None, stochastic_encoder=False,
              penalty_options=None, **_):
        dec = nets.decoder()
        enc = nets.encoder(stochastic=stochastic_encoder or penalty == "kl")
        pen = Penalty(penalty or DEFAULT_PENALTY[kind], nets.latent_dim, sigma_z=sigma_z,
                      hidden=nets.hidden, **(penalty_options or {}))
        return GenerativeModel(kind, enc, dec, penalty=pen, sigma_z=sigma_z,
                               image_shape=nets.image_shape)

    @classmethod
    def config_defaults(cls, kind, penalty=None):
        out = {"lam": DEFAULT_LAM[penalty]} if penalty in DEFAULT_LAM else {}
        if kind == "wae-gan":  # the WAE paper's MNIST setting: AE 1e-3, adversary 5e-4
            out.update(aux_lr=5e-4, betas=(0.5, 0.999))
        return out

    @classmethod
    def resolve_penalty(cls, kind, penalty):
        penalty = DEFAULT_PENALTY[kind] if penalty is None else penalty
        if penalty not in PENALTIES:
            raise ValueError(f"unknown penalty={penalty!r}; expected one of {list(PENALTIES)}")
        if kind != "wae" and penalty != DEFAULT_PENALTY[kind]:
            raise ValueError(f"model={kind!r} uses penalty={DEFAULT_PENALTY[kind]!r}; "
                             f"for penalty={penalty!r} use model='wae'")
        return penalty

    def param_groups(self):
        m = self.model
        groups = {"autoencoder": (parameters(m.encoder, m.decoder), False)}
        if m.penalty is not None and m.penalty.adversary is not None:
            groups["discriminator"] = (parameters(m.penalty.adversary), True)
        return groups

    def losses(self, x, generator=None, *, noise=None, pz=None, gather=None) -> dict:
        r"""Terms of the penalized OT objective on a batch (tensors with graph).

        .. math:: \frac1n \sum_i c(x_i, G(\tilde z_i)) + \lambda F(\{\tilde z_i\},
                  \{z_j\}), \quad \tilde z_i \sim Q(Z|x_i), \ z_j \sim P_Z.

        Parameters
        ----------
        x : tensor (n, d)
            The batch (or, in data-parallel training, this rank's shard of it).
        generator : torch.Generator, optional
            Source of the encoder noise, the prior draws and the penalty's randomness, drawn
            in that order.
        noise : tensor (n, d_z), optional
            Standard normal encoder noise :math:`\xi` (Gaussian encoders); default: drawn.
        pz : tensor (m, d_z), optional
            Prior sample; default ``model.prior(n, generator)``.
        gather : callable, optional
            Applied to the codes :math:`\tilde z` (and, for the ``kl`` penalty, the encoder
            means / log-variances) before the penalty, e.g. an autograd all-gather over ranks
            so that F sees the global latent batch; the reconstruction term stays on ``x``.

        Returns
        -------
        dict
            ``loss`` = ``recon + lam * penalty``, ``recon``, ``penalty`` (scalars with graph),
            ``qz`` (n, d_z) and ``pz``.
        """
        m = self.model
        mean, logvar = m.encoder(x)
        if logvar is not None and noise is None:
            noise = torch.randn(mean.shape, generator=generator, device=mean.device)
        qz = mean if logvar is None else mean + torch.exp(0.5 * logvar) * noise
        if pz is None:
            pz = m.prior(x.shape[0], generator)
        recon = reconstruction_cost(x, m.decoder(qz), self.cost).mean()
        gather = gather or LOCAL.gather
        gaussian = logvar is not None and m.penalty.needs_gaussian_encoder  # F uses mean, logvar
        pen = m.penalty(gather(qz), pz, mean=gather(mean) if gaussian else None,
                        logvar=gather(logvar) if gaussian else None, generator=generator)
        return {"loss": recon + self.lam * pen, "recon": recon, "penalty": pen, "qz": qz,
                "pz": pz}

    def step(self, batch, step, generator=None, collective=LOCAL):
        """The discriminator's update (latent game only), then the auto-encoder's; returns
        ``disc`` (latent game), ``loss``, ``recon``, ``penalty`` of the global batch."""
        m, n = self.model, batch.shape[0]
        x = collective.rows(batch)
        terms = {}
        if m.penalty.adversary is not None:
            self.discriminator_step(x, n, step, terms, generator, collective)
        noise = self.noise(n, generator, collective) if m.encoder.stochastic else None
        t = self.losses(x, generator, noise=noise, pz=m.prior(n, generator),
                        gather=collective.gather)
        recon = collective.mean({"recon": t["recon"]})["recon"]
        pen = t["penalty"].detach().to(recon.dtype)  # computed on the global latent batch
        loss = recon + self.lam * pen
        terms.update({"loss": float(loss), "recon": float(recon), "penalty": float(pen)})
        self.guarded_update("autoencoder", t["loss"], step, terms, collective, check=loss)
        return terms

    def discriminator_step(self, x, n, step, terms, generator=None, collective=LOCAL):
        """The latent discriminator's update on the global code batch (detached) against a
        global prior sample, identical on every rank; records ``terms["disc"]``."""
        m = self.model
        with torch.no_grad():
            mean, logvar = m.encoder(x)
            qz = mean if logvar is None else (
                mean + torch.exp(0.5 * logvar) * self.noise(n, generator, collective))
        d_loss = m.penalty.adversary.discriminator_loss(collective.gather_detached(qz),
                                                        m.prior(n, generator))
        terms["disc"] = float(d_loss.detach())
        self.guarded_update("discriminator", d_loss, step, terms, collective)
