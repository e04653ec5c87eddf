r"""The generative model itself: encoder (optional), decoder G, prior P_Z and auxiliary nets.

:class:`GenerativeModel` holds the networks of every kind of :data:`otgen.models.MODELS`
(built by :func:`otgen.models.build_model` from the kind's spec, :mod:`otgen.models.specs`);
:func:`reconstruction_cost` is the cost c of the penalized OT objective and of the audits.
"""
from __future__ import annotations

import torch
from torch import nn

COSTS = ("squared", "l2", "l1")


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
    with :func:`otgen.models.build_model`.

    Attributes
    ----------
    kind : str
        One of :data:`otgen.models.MODELS`.
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
    >>> from otgen.models import build_model
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
