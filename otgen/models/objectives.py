r"""The models and their training objectives: penalized OT (WAE-MMD, WAE-GAN = AAE), VAE, WGAN-GP.

* Penalized OT (Bousquet et al. 2017, Sec. 4; Tolstikhin et al. 2018):

  .. math:: \min_{Q, G}\ \mathbb{E}_{P_X}\mathbb{E}_{Q(Z|X)} c(X, G(Z)) + \lambda F(Q_Z, P_Z)

  with c squared (:math:`\|x-y\|^2`, the W_2^2 cost), L2 (:math:`\|x-y\|`, the W_1 cost) or L1,
  and F from :mod:`otgen.models.penalties`.  ``"wae-mmd"`` uses F = MMD (IMQ), ``"wae-gan"``
  the latent JS game (with the squared cost this is the adversarial auto-encoder).
* VAE (Kingma & Welling 2014) with Gaussian decoder :math:`N(G(z), s^2 I_d)`: minimizes the
  negative ELBO in nats,

  .. math:: \mathbb{E}_{P_X}\Big[\mathbb{E}_{Q(Z|X)}\Big(\frac{\|X - G(Z)\|^2}{2 s^2}
            + \frac d2 \log(2\pi s^2)\Big) + \mathrm{KL}(Q(Z|X)\,\|\,P_Z)\Big].

* WGAN-GP (Gulrajani et al. 2017): critic f maximizes
  :math:`\mathbb{E} f(X) - \mathbb{E} f(G(Z)) - \rho\, \mathrm{GP}`; the generator minimizes
  :math:`-\mathbb{E} f(G(Z))`, once every ``n_critic`` critic updates.

Every update checks that the loss and the gradient norm are finite *before* touching the
parameters; otherwise it raises :class:`TrainingDivergedError`, so the model in memory and every
checkpoint on disk hold the last good parameters.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .networks import Critic, Decoder, Encoder
from .penalties import Penalty, gradient_penalty

MODELS = ("wae-mmd", "wae-gan", "wae", "vae", "wgan-gp")
COSTS = ("squared", "l2", "l1")
DEFAULT_PENALTY = {"wae-mmd": "mmd", "wae-gan": "gan", "wae": "mmd"}


class TrainingDivergedError(RuntimeError):
    """A loss or gradient became NaN/inf; the parameters were left at their last good values."""

    def __init__(self, message: str, step: int | None = None, terms: dict | None = None):
        super().__init__(message)
        self.step, self.terms = step, terms or {}


def reconstruction_cost(x: torch.Tensor, y: torch.Tensor, cost: str = "squared") -> torch.Tensor:
    r"""Per-sample cost c(x_i, y_i): ``"squared"`` :math:`\|x-y\|_2^2`, ``"l2"``
    :math:`\|x-y\|_2`, ``"l1"`` :math:`\|x-y\|_1`.  Returns shape (n,)."""
    diff = x - y
    if cost == "squared":
        return diff.pow(2).sum(1)
    if cost == "l2":
        return diff.pow(2).sum(1).clamp_min(1e-20).sqrt()
    if cost == "l1":
        return diff.abs().sum(1)
    raise ValueError(f"unknown cost={cost!r}; expected one of {COSTS}")


class GenerativeModel(nn.Module):
    r"""Encoder (optional), decoder G, prior :math:`N(0, \sigma_z^2 I)` and auxiliary nets.

    Attributes
    ----------
    kind : str  -- one of :data:`MODELS`
    encoder : Encoder or None (None for WGAN-GP)
    decoder : Decoder
    penalty : Penalty or None (WAE models; holds the latent discriminator of WAE-GAN)
    critic : Critic or None (WGAN-GP)
    sigma_z : float
    decoder_std : float or None -- s of the VAE's Gaussian decoder
    image_shape : tuple or None
    """

    def __init__(self, kind, encoder, decoder, *, penalty=None, critic=None, sigma_z=1.0,
                 decoder_std=None, image_shape=None):
        super().__init__()
        self.kind, self.encoder, self.decoder = kind, encoder, decoder
        self.penalty, self.critic = penalty, critic
        self.sigma_z, self.decoder_std = float(sigma_z), decoder_std
        self.image_shape = tuple(image_shape) if image_shape else None

    @property
    def latent_dim(self) -> int:
        return self.decoder.latent_dim

    @property
    def data_dim(self) -> int:
        return self.decoder.data_dim

    @property
    def has_encoder(self) -> bool:
        return self.encoder is not None

    def prior(self, n: int, generator=None) -> torch.Tensor:
        """n draws of :math:`P_Z = N(0, \\sigma_z^2 I)`."""
        return self.sigma_z * torch.randn(n, self.latent_dim, generator=generator)

    @torch.no_grad()
    def sample(self, n: int, generator=None) -> torch.Tensor:
        """:math:`G(Z)`, :math:`Z \\sim P_Z` (decoder means; no decoder noise)."""
        return self.decoder(self.prior(n, generator))

    @torch.no_grad()
    def encode(self, x, generator=None) -> torch.Tensor:
        """One draw :math:`Z \\sim Q(Z|X=x)` per row."""
        if self.encoder is None:
            raise ValueError(f"a {self.kind} model has no encoder")
        return self.encoder.sample(x, generator)

    @torch.no_grad()
    def reconstruct(self, x, generator=None) -> torch.Tensor:
        """:math:`G(Z)`, :math:`Z \\sim Q(Z|X=x)`."""
        return self.decoder(self.encode(x, generator))


def build_model(kind: str, data_dim: int, *, latent_dim: int = 8, hidden=(256, 256),
                arch: str = "mlp", image_shape=None, output: str = "sigmoid",
                penalty: str | None = None, sigma_z: float = 1.0, decoder_std: float = 0.1,
                stochastic_encoder: bool = False, penalty_options: dict | None = None,
                ) -> GenerativeModel:
    """Networks for a model ``kind`` (see :data:`MODELS`); the VAE gets a Gaussian encoder."""
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; expected one of {MODELS}")
    dec = Decoder(latent_dim, data_dim, hidden=hidden, arch=arch, image_shape=image_shape,
                  output=output)
    if kind == "wgan-gp":
        critic = Critic(data_dim, hidden=hidden, arch=arch, image_shape=image_shape)
        return GenerativeModel(kind, None, dec, critic=critic, sigma_z=sigma_z,
                               image_shape=image_shape)
    stochastic = stochastic_encoder or kind == "vae" or penalty == "kl"
    enc = Encoder(data_dim, latent_dim, hidden=hidden, arch=arch, image_shape=image_shape,
                  stochastic=stochastic)
    if kind == "vae":
        return GenerativeModel(kind, enc, dec, sigma_z=sigma_z, decoder_std=decoder_std,
                               image_shape=image_shape)
    pen = Penalty(penalty or DEFAULT_PENALTY[kind], latent_dim, sigma_z=sigma_z, hidden=hidden,
                  **(penalty_options or {}))
    return GenerativeModel(kind, enc, dec, penalty=pen, sigma_z=sigma_z, image_shape=image_shape)


def _params(*modules):
    return [p for m in modules if m is not None for p in m.parameters()]


class Objective:
    """Optimizers and one training step for a :class:`GenerativeModel`.

    Parameters
    ----------
    model : GenerativeModel
    lr, aux_lr : float -- learning rates of the main nets and of the critic / discriminator
    betas : (float, float) -- Adam betas
    weight_decay : float
    optimizer : {"adam", "adamw"}
    lam : float -- lambda, weight of the penalty F (WAE)
    cost : {"squared", "l2", "l1"} -- reconstruction cost c (WAE)
    n_critic : int -- critic updates per generator update (WGAN-GP)
    gp_weight : float -- gradient-penalty weight rho (WGAN-GP)
    grad_clip : float or None -- clip the gradient norm of each update
    """

    def __init__(self, model: GenerativeModel, *, lr=1e-3, aux_lr=None, betas=(0.5, 0.999),
                 weight_decay=0.0, optimizer="adam", lam=10.0, cost="squared", n_critic=5,
                 gp_weight=10.0, grad_clip=None):
        self.model, self.lam, self.cost = model, float(lam), cost
        self.n_critic, self.gp_weight, self.grad_clip = int(n_critic), float(gp_weight), grad_clip
        opt_cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[optimizer]
        aux_lr = lr if aux_lr is None else aux_lr
        make = lambda params, rate: opt_cls(params, lr=rate, betas=tuple(betas),  # noqa: E731
                                            weight_decay=weight_decay)
        self.optimizers = {}
        if model.kind == "wgan-gp":
            self.optimizers["generator"] = make(_params(model.decoder), lr)
            self.optimizers["critic"] = make(_params(model.critic), aux_lr)
        else:
            self.optimizers["autoencoder"] = make(_params(model.encoder, model.decoder), lr)
            if model.penalty is not None and model.penalty.adversary is not None:
                self.optimizers["discriminator"] = make(_params(model.penalty.adversary), aux_lr)

    # -- the guarded update --------------------------------------------------------------
    def _update(self, name: str, loss: torch.Tensor, step: int, terms: dict):
        if not torch.isfinite(loss):
            raise TrainingDivergedError(
                f"training diverged at step {step}: the {name} loss is {float(loss.detach())} "
                f"(terms {_fmt(terms)}); parameters and checkpoints keep their last good values",
                step, terms)
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(params, self.grad_clip or float("inf"))
        if not torch.isfinite(norm):
            opt.zero_grad(set_to_none=True)
            raise TrainingDivergedError(
                f"training diverged at step {step}: the {name} gradient norm is {float(norm)} "
                f"(terms {_fmt(terms)}); parameters and checkpoints keep their last good values",
                step, terms)
        opt.step()

    # -- losses ----------------------------------------------------------------------------
    def wae_losses(self, x, generator=None) -> dict:
        """Terms of the penalized OT objective on a batch (tensors with graph)."""
        m = self.model
        mean, logvar = m.encoder(x)
        qz = mean if logvar is None else mean + torch.exp(0.5 * logvar) * torch.randn(
            mean.shape, generator=generator)
        pz = m.prior(x.shape[0], generator)
        recon = reconstruction_cost(x, m.decoder(qz), self.cost).mean()
        pen = m.penalty(qz, pz, mean=mean, logvar=logvar, generator=generator)
        return {"loss": recon + self.lam * pen, "recon": recon, "penalty": pen, "qz": qz,
                "pz": pz}

    def vae_losses(self, x, generator=None) -> dict:
        """Negative ELBO (nats per sample) = Gaussian NLL + KL, on a batch."""
        from .penalties import kl_gaussian

        m = self.model
        mean, logvar = m.encoder(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=generator)
        s2 = m.decoder_std ** 2
        sq = reconstruction_cost(x, m.decoder(z), "squared")
        nll = (sq / (2 * s2) + 0.5 * x.shape[1] * math.log(2 * math.pi * s2)).mean()
        kl = kl_gaussian(mean, logvar, m.sigma_z)
        return {"loss": nll + kl, "nll": nll, "kl": kl, "recon": sq.mean()}

    def wgan_losses(self, x, generator=None) -> dict:
        """Critic loss E f(G(Z)) - E f(X) + rho GP and the gap E f(X) - E f(G(Z))."""
        m = self.model
        y = m.decoder(m.prior(x.shape[0], generator)).detach()
        gap = m.critic(x).mean() - m.critic(y).mean()
        gp = gradient_penalty(m.critic, x, y, generator)
        return {"loss": -gap + self.gp_weight * gp, "gap": gap, "gp": gp}

    # -- one step ------------------------------------------------------------------------
    def step(self, x: torch.Tensor, step: int, generator=None) -> dict:
        """One training step on batch ``x``; returns the loss terms as floats."""
        m = self.model
        if m.kind == "vae":
            t = self.vae_losses(x, generator)
            terms = {k: float(v.detach()) for k, v in t.items()}
            self._update("autoencoder", t["loss"], step, terms)
            return terms
        if m.kind == "wgan-gp":
            t = self.wgan_losses(x, generator)
            terms = {k: float(v.detach()) for k, v in t.items()}
            self._update("critic", t["loss"], step, terms)
            if step % self.n_critic == 0:
                g = -m.critic(m.decoder(m.prior(x.shape[0], generator))).mean()
                terms["gen"] = float(g.detach())
                self._update("generator", g, step, terms)
            return terms
        adv = m.penalty.adversary
        terms = {}
        if adv is not None:
            with torch.no_grad():
                qz_d = m.encoder.sample(x, generator)
            pz_d = m.prior(x.shape[0], generator)
            d_loss = adv.discriminator_loss(qz_d, pz_d)
            terms["disc"] = float(d_loss.detach())
            self._update("discriminator", d_loss, step, terms)
        t = self.wae_losses(x, generator)
        terms.update({k: float(t[k].detach()) for k in ("loss", "recon", "penalty")})
        self._update("autoencoder", t["loss"], step, terms)
        return terms

    def state_dict(self) -> dict:
        return {k: o.state_dict() for k, o in self.optimizers.items()}

    def load_state_dict(self, state: dict):
        if set(state) != set(self.optimizers):
            raise ValueError(f"checkpoint optimizers {sorted(state)} do not match the model's "
                             f"{sorted(self.optimizers)}")
        for k, o in self.optimizers.items():
            o.load_state_dict(state[k])


def _fmt(terms: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in terms.items()) or "none"
