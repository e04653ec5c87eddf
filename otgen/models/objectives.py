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


def reconstruction_cost(x: torch.Tensor, y: torch.Tensor, cost: str = "squared") -> torch.Tensor:
    r"""Per-sample reconstruction cost :math:`c(x_i, y_i)` of the penalized OT objective.

    ``"squared"``: :math:`\|x-y\|_2^2` (the :math:`W_2^2` cost), ``"l2"``: :math:`\|x-y\|_2`
    (the :math:`W_1` cost), ``"l1"``: :math:`\|x-y\|_1`.

    Parameters
    ----------
    x, y : torch.Tensor (n, d)
        Data and reconstructions (same units).
    cost : {"squared", "l2", "l1"}
        The cost c.

    Returns
    -------
    torch.Tensor (n,)
        :math:`c(x_i, y_i)` per row, in units of x (squared units for ``"squared"``);
        differentiable.

    Examples
    --------
    >>> import torch
    >>> y = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    >>> reconstruction_cost(torch.zeros(2, 2), y, "l2"), reconstruction_cost(torch.zeros(2, 2), y)
    (tensor([5., 1.]), tensor([25.,  1.]))

    References
    ----------
    O. Bousquet et al. The VEGAN cookbook. arXiv:1705.07642, 2017 (the cost c of Theorem 1).
    I. Tolstikhin, O. Bousquet, S. Gelly, B. Schölkopf. Wasserstein Auto-Encoders. ICLR 2018.
    """
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

    The model is :math:`P_G = G_\# P_Z` (plus Gaussian noise of std ``decoder_std`` for the VAE),
    :math:`P_Z = N(0, \sigma_z^2 I_{d_z})`; the encoder defines :math:`Q(Z \mid X)`.  Build one
    with :func:`build_model`.

    Attributes
    ----------
    kind : str
        One of :data:`MODELS`.
    encoder : Encoder or None
        :math:`Q(Z|X)`, (n, d) -> (n, d_z); None for WGAN-GP.
    decoder : Decoder
        G, (n, d_z) -> (n, d).
    penalty : Penalty or None
        F of the WAE models (holds the latent discriminator of WAE-GAN).
    critic : Critic or None
        The WGAN-GP critic, (n, d) -> (n,).
    sigma_z : float
        Prior standard deviation.
    decoder_std : float or None
        s of the VAE's Gaussian decoder :math:`N(G(z), s^2 I)`.
    image_shape : tuple or None
        (h, w) for image data.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> model = build_model("wae-mmd", 4, latent_dim=2, hidden=(16,))
    >>> model.kind, model.latent_dim, model.data_dim, model.has_encoder
    ('wae-mmd', 2, 4, True)
    >>> model.sample(3).shape, model.reconstruct(torch.rand(5, 4)).shape
    (torch.Size([3, 4]), torch.Size([5, 4]))

    References
    ----------
    O. Bousquet et al. The VEGAN cookbook. arXiv:1705.07642, 2017 (latent variable models
    :math:`P_G`).  I. Tolstikhin et al. Wasserstein Auto-Encoders. ICLR 2018.  D. P. Kingma,
    M. Welling. Auto-Encoding Variational Bayes. ICLR 2014.  I. Gulrajani et al. Improved
    training of Wasserstein GANs. NeurIPS 2017.
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

    @property
    def device(self) -> torch.device:
        """The device holding the parameters (where :meth:`prior` draws)."""
        return next(self.decoder.parameters()).device

    def prior(self, n: int, generator=None) -> torch.Tensor:
        """n draws of :math:`P_Z = N(0, \\sigma_z^2 I)`, shape (n, d_z), on :attr:`device`
        (``generator`` must live on that device)."""
        return self.sigma_z * torch.randn(n, self.latent_dim, generator=generator,
                                          device=self.device)

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
    r"""Optimizers and one training step for a :class:`GenerativeModel`.

    The losses are those of the module docstring: penalized OT
    :math:`\mathbb{E}\,c(X, G(Z)) + \lambda F(Q_Z, P_Z)` (WAE), the negative ELBO in nats (VAE),
    and the WGAN-GP critic / generator losses.

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
    grad_sync : callable or None
        ``grad_sync(params)``, called by every update between ``backward()`` and the
        gradient-norm check / clipping with the parameters of the optimizer being stepped that
        hold a gradient.  Data-parallel training
        (:class:`otgen.models.distributed.DistributedStep`) sets it to an all-reduce average
        of the gradients over the ranks; None (default): no synchronization.

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
        self.model, self.lam, self.cost = model, float(lam), cost
        self.n_critic, self.gp_weight, self.grad_clip = int(n_critic), float(gp_weight), grad_clip
        self.grad_sync = None
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
    def guarded_update(self, name: str, loss: torch.Tensor, step: int, terms: dict):
        """One optimizer step of ``name`` on ``loss``; a non-finite loss raises
        :class:`TrainingDivergedError` before any parameter changes."""
        if not torch.isfinite(loss):
            raise TrainingDivergedError(
                f"training diverged at step {step}: the {name} loss is {float(loss.detach())} "
                f"(terms {_fmt(terms)}); parameters and checkpoints keep their last good values",
                step, terms)
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
        if self.grad_sync is not None:
            self.grad_sync(params)
        norm = torch.nn.utils.clip_grad_norm_(params, self.grad_clip or float("inf"))
        if not torch.isfinite(norm):
            opt.zero_grad(set_to_none=True)
            raise TrainingDivergedError(
                f"training diverged at step {step}: the {name} gradient norm is {float(norm)} "
                f"(terms {_fmt(terms)}); parameters and checkpoints keep their last good values",
                step, terms)
        opt.step()

    # -- losses ----------------------------------------------------------------------------
    def wae_losses(self, x, generator=None, *, noise=None, pz=None, gather=None) -> dict:
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
            Applied to the codes :math:`\tilde z` (and the encoder means / log-variances)
            before the penalty, e.g. an autograd all-gather over ranks so that F sees the
            global latent batch; the reconstruction term stays on ``x``.

        Returns
        -------
        dict
            ``loss`` = ``recon + lam * penalty``, ``recon``, ``penalty`` (scalars with graph),
            ``qz`` (n, d_z) and ``pz``.

        Examples
        --------
        >>> import torch
        >>> m = build_model("wae-mmd", 3, latent_dim=2, hidden=(8,))
        >>> t = Objective(m).wae_losses(torch.rand(6, 3), torch.Generator().manual_seed(0))
        >>> sorted(t), t["qz"].shape
        (['loss', 'penalty', 'pz', 'qz', 'recon'], torch.Size([6, 2]))

        References
        ----------
        I. Tolstikhin, O. Bousquet, S. Gelly, B. Schölkopf. Wasserstein Auto-Encoders. ICLR 2018.
        """
        m = self.model
        mean, logvar = m.encoder(x)
        if logvar is not None and noise is None:
            noise = torch.randn(mean.shape, generator=generator, device=mean.device)
        qz = mean if logvar is None else mean + torch.exp(0.5 * logvar) * noise
        if pz is None:
            pz = m.prior(x.shape[0], generator)
        recon = reconstruction_cost(x, m.decoder(qz), self.cost).mean()
        if gather is None:
            pen = m.penalty(qz, pz, mean=mean, logvar=logvar, generator=generator)
        else:
            kl = logvar is not None and m.penalty.needs_gaussian_encoder  # F uses mean, logvar
            pen = m.penalty(gather(qz), pz, mean=gather(mean) if kl else None,
                            logvar=gather(logvar) if kl else None, generator=generator)
        return {"loss": recon + self.lam * pen, "recon": recon, "penalty": pen, "qz": qz,
                "pz": pz}

    def vae_losses(self, x, generator=None, *, noise=None) -> dict:
        r"""Negative ELBO (nats per sample) = Gaussian NLL + KL, on a batch.

        .. math:: \frac1n \sum_i \Big(\frac{\|x_i - G(z_i)\|^2}{2 s^2}
                  + \frac d2 \log(2\pi s^2) + \mathrm{KL}(Q(Z|x_i) \| P_Z)\Big),
                  \quad z_i = \mu(x_i) + e^{\ell(x_i)/2} \odot \xi_i.

        Every term is a per-sample mean, so the mean over equal shards of a batch equals the
        value on the whole batch (what data-parallel training relies on).

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

        Examples
        --------
        >>> import torch
        >>> m = build_model("vae", 3, latent_dim=2, hidden=(8,))
        >>> t = Objective(m).vae_losses(torch.rand(6, 3), torch.Generator().manual_seed(0))
        >>> bool(torch.isclose(t["loss"], t["nll"] + t["kl"]))
        True

        References
        ----------
        D. P. Kingma, M. Welling. Auto-encoding variational Bayes. ICLR 2014.
        """
        from .penalties import kl_gaussian

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
            self.guarded_update("autoencoder", t["loss"], step, terms)
            return terms
        if m.kind == "wgan-gp":
            t = self.wgan_losses(x, generator)
            terms = {k: float(v.detach()) for k, v in t.items()}
            self.guarded_update("critic", t["loss"], step, terms)
            if step % self.n_critic == 0:
                g = -m.critic(m.decoder(m.prior(x.shape[0], generator))).mean()
                terms["gen"] = float(g.detach())
                self.guarded_update("generator", g, step, terms)
            return terms
        adv = m.penalty.adversary
        terms = {}
        if adv is not None:
            with torch.no_grad():
                qz_d = m.encoder.sample(x, generator)
            pz_d = m.prior(x.shape[0], generator)
            d_loss = adv.discriminator_loss(qz_d, pz_d)
            terms["disc"] = float(d_loss.detach())
            self.guarded_update("discriminator", d_loss, step, terms)
        t = self.wae_losses(x, generator)
        terms.update({k: float(t[k].detach()) for k in ("loss", "recon", "penalty")})
        self.guarded_update("autoencoder", t["loss"], step, terms)
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
