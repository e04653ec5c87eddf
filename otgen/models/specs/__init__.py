"""One spec per model kind: its networks, optimizers and training step (see docs/architecture.md).

* :mod:`.base` -- :class:`ModelSpec` (optimizers, the guarded update) and
  :class:`TrainingDivergedError`
* :mod:`.wae` -- WAE-MMD, WAE-GAN (AAE), WAE with any latent penalty
* :mod:`.vae` -- the VAE (negative ELBO)
* :mod:`.wgan` -- WGAN-GP

:data:`SPECS` maps each model name to its spec class; adding a model is one new module here and
its class in the tuple that builds :data:`SPECS`.
"""
from __future__ import annotations

from .base import ModelSpec, TrainingDivergedError
from .vae import VAESpec
from .wae import DEFAULT_PENALTY, WAESpec
from .wgan import WGANSpec

#: model name -> spec class, from each spec's ``kinds`` (a new model: add its class here)
SPECS = {kind: spec for spec in (WAESpec, VAESpec, WGANSpec) for kind in spec.kinds}
MODELS = tuple(SPECS)

__all__ = ["DEFAULT_PENALTY", "MODELS", "SPECS", "ModelSpec", "TrainingDivergedError",
           "VAESpec", "WAESpec", "WGANSpec", "spec_for"]


def spec_for(kind: str) -> type:
    """The spec class of model ``kind``; ValueError naming the known kinds otherwise."""
    if kind not in SPECS:
        raise ValueError(f"unknown model {kind!r}; expected one of {tuple(SPECS)}")
    return SPECS[kind]
