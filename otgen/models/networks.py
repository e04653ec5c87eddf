r"""Encoders, decoders, critics and latent discriminators (MLP and small conv nets).

* :class:`Encoder` -- :math:`Q(Z|X)`: deterministic (``z = e(x)``) or Gaussian
  (:math:`N(\mu(x), \mathrm{diag}\,\sigma^2(x))`, reparameterized).
* :class:`Decoder` -- the generator :math:`G: Z \to X` (the mean of a Gaussian decoder).
* :class:`Critic` -- a scalar function of its input: the WGAN critic on X, or the latent
  discriminator of WAE-GAN / AAE on Z (its output is then a logit).

Conv architectures suit square single-channel images whose side halves to at most 7
(8x8 digits: one stride-2 conv, 28x28 MNIST: two).  No batch normalization anywhere: the
gradient penalty and the per-sample audits need each output to depend on its input only.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

ARCHS = ("mlp", "conv")


def mlp(sizes, *, activation=nn.ReLU, final=None) -> nn.Sequential:
    """Fully connected net ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` in between."""
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(activation())
    if final is not None:
        layers.append(final)
    return nn.Sequential(*layers)


def conv_plan(image_shape) -> tuple[int, int]:
    """(number of stride-2 stages, final side) for a square image; ValueError if unsuitable."""
    if image_shape is None or len(image_shape) != 2 or image_shape[0] != image_shape[1]:
        raise ValueError(f"arch='conv' needs square single-channel images, got image_shape="
                         f"{image_shape}; use arch='mlp'")
    side, stages = int(image_shape[0]), 0
    while side > 7 and side % 2 == 0:
        side //= 2
        stages += 1
    if stages == 0 or side > 7:
        raise ValueError(f"arch='conv' needs an image side that halves down to <= 7 "
                         f"(8, 10, 14, 16, 28, 32, ...), got {image_shape[0]}; use arch='mlp'")
    return stages, side


def _check_conv_dim(dim: int, image_shape) -> None:
    conv_plan(image_shape)
    if dim != image_shape[0] * image_shape[1]:
        raise ValueError(f"arch='conv' with image_shape={tuple(image_shape)} needs "
                         f"{image_shape[0] * image_shape[1]} features, got {dim}")


def check_batch(x: torch.Tensor, dim: int, name: str = "x") -> torch.Tensor:
    """A (n, dim) float tensor, or a ValueError naming the expected size."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"{name} must have shape (n, {dim}), got {tuple(x.shape)}")
    return x


class ConvBody(nn.Module):
    """Image (flattened) -> features: stride-2 4x4 convolutions, channels doubling."""

    def __init__(self, image_shape, out_dim: int, channels: int = 32):
        super().__init__()
        stages, side = conv_plan(image_shape)
        self.image_shape = tuple(image_shape)
        layers, c_in = [], 1
        for i in range(stages):
            c_out = channels * 2 ** i
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.ReLU()]
            c_in = c_out
        self.conv = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * side * side, out_dim)

    def forward(self, x):
        h = self.conv(x.reshape(-1, 1, *self.image_shape))
        return self.head(h.flatten(1))


class DeconvBody(nn.Module):
    """Latent -> flattened image: a linear map to a small grid, then transposed convolutions."""

    def __init__(self, latent_dim: int, image_shape, channels: int = 32):
        super().__init__()
        stages, side = conv_plan(image_shape)
        self.side, self.c0 = side, channels * 2 ** (stages - 1)
        self.fc = nn.Sequential(nn.Linear(latent_dim, self.c0 * side * side), nn.ReLU())
        layers, c_in = [], self.c0
        for i in range(stages):
            e = stages - 2 - i
            c_out = channels * 2 ** e if e >= 0 else channels // 2
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.ReLU()]
            c_in = c_out
        layers.append(nn.Conv2d(c_in, 1, 3, 1, 1))
        self.deconv = nn.Sequential(*layers)

    def forward(self, z):
        h = self.fc(z).reshape(-1, self.c0, self.side, self.side)
        return self.deconv(h).flatten(1)


class Encoder(nn.Module):
    r"""Encoder :math:`Q(Z|X)`.

    Parameters
    ----------
    data_dim, latent_dim : int
    hidden : tuple of int
        Hidden widths of the MLP (``arch="mlp"``).
    arch : {"mlp", "conv"}
    image_shape : (h, w), needed for ``arch="conv"``
    stochastic : bool
        False: deterministic :math:`z = e(x)`.  True: Gaussian
        :math:`Q(Z|X=x) = N(\mu(x), \mathrm{diag}\, e^{\ell(x)})`, sampled by
        reparameterization :math:`z = \mu + e^{\ell/2} \odot \xi`.
    """

    def __init__(self, data_dim: int, latent_dim: int, *, hidden=(256, 256), arch: str = "mlp",
                 image_shape=None, stochastic: bool = False):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown arch={arch!r}; expected one of {ARCHS}")
        self.data_dim, self.latent_dim, self.stochastic = data_dim, latent_dim, stochastic
        out = 2 * latent_dim if stochastic else latent_dim
        if arch == "conv":
            _check_conv_dim(data_dim, image_shape)
        self.net = (mlp([data_dim, *hidden, out]) if arch == "mlp"
                    else ConvBody(image_shape, out))

    def forward(self, x):
        """Return ``(mean, logvar)``; ``logvar`` is None for a deterministic encoder."""
        h = self.net(check_batch(x, self.data_dim))
        if not self.stochastic:
            return h, None
        mean, logvar = h.chunk(2, dim=1)
        return mean, logvar.clamp(-12.0, 8.0)

    def sample(self, x, generator=None):
        """One draw :math:`z \\sim Q(Z|X=x)` per row (the mean when deterministic)."""
        mean, logvar = self(x)
        if logvar is None:
            return mean
        xi = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
        return mean + torch.exp(0.5 * logvar) * xi


class Decoder(nn.Module):
    """Generator / decoder mean :math:`G: Z \\to X`.

    ``output="sigmoid"`` keeps images in [0, 1]; ``"linear"`` for unbounded data.
    """

    def __init__(self, latent_dim: int, data_dim: int, *, hidden=(256, 256), arch: str = "mlp",
                 image_shape=None, output: str = "sigmoid"):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown arch={arch!r}; expected one of {ARCHS}")
        if output not in ("sigmoid", "linear"):
            raise ValueError(f"unknown decoder output={output!r}; expected 'sigmoid' or 'linear'")
        self.latent_dim, self.data_dim = latent_dim, data_dim
        if arch == "conv":
            _check_conv_dim(data_dim, image_shape)
        self.net = (mlp([latent_dim, *hidden, data_dim]) if arch == "mlp"
                    else DeconvBody(latent_dim, image_shape))
        self.output = output

    def forward(self, z):
        h = self.net(check_batch(z, self.latent_dim, "z"))
        return torch.sigmoid(h) if self.output == "sigmoid" else h


class Critic(nn.Module):
    """Scalar function ``f: R^dim -> R`` (WGAN critic on X, or latent discriminator logit)."""

    def __init__(self, dim: int, *, hidden=(256, 256), arch: str = "mlp", image_shape=None):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown arch={arch!r}; expected one of {ARCHS}")
        self.dim = dim
        if arch == "conv":
            _check_conv_dim(dim, image_shape)
        self.net = mlp([dim, *hidden, 1]) if arch == "mlp" else ConvBody(image_shape, 1)

    def forward(self, x):
        return self.net(check_batch(x, self.dim)).squeeze(1)


@dataclass(frozen=True)
class Architecture:
    """The shape every network of one model shares; builds its encoder, decoder and critic.

    Parameters
    ----------
    data_dim, latent_dim : int
    hidden : tuple of int
        Hidden widths of every MLP.
    arch : {"mlp", "conv"}
    image_shape : (h, w), optional
    output : {"sigmoid", "linear"}
        The decoder's output activation.

    Examples
    --------
    >>> from otgen.models.networks import Architecture
    >>> nets = Architecture(4, 2, hidden=(8,))
    >>> nets.decoder().data_dim, nets.encoder(stochastic=True).stochastic
    (4, True)
    """

    data_dim: int
    latent_dim: int = 8
    hidden: tuple = (256, 256)
    arch: str = "mlp"
    image_shape: tuple | None = None
    output: str = "sigmoid"

    def encoder(self, stochastic: bool = False) -> Encoder:
        return Encoder(self.data_dim, self.latent_dim, hidden=self.hidden, arch=self.arch,
                       image_shape=self.image_shape, stochastic=stochastic)

    def decoder(self) -> Decoder:
        return Decoder(self.latent_dim, self.data_dim, hidden=self.hidden, arch=self.arch,
                       image_shape=self.image_shape, output=self.output)

    def critic(self) -> Critic:
        return Critic(self.data_dim, hidden=self.hidden, arch=self.arch,
                      image_shape=self.image_shape)
