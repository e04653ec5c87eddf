"""Generative models of the VEGAN cookbook, trained in PyTorch and audited against exact OT.

* :mod:`.data` -- digits (bundled), synthetic mixtures / manifolds, local MNIST files
* :mod:`.networks` -- encoders, decoders, critics (MLP, small conv)
* :mod:`.penalties` -- F(Q_Z, P_Z): MMD, latent JS game, sliced W, Sinkhorn, KL; gradient penalty
* :mod:`.model` -- :class:`GenerativeModel` (encoder, decoder, prior, auxiliary nets), the cost c
* :mod:`.specs` -- one spec per model kind (networks, optimizers, the training step): penalized
  OT (WAE-MMD, WAE-GAN = AAE, WAE), VAE, WGAN-GP; the registry ``SPECS``
* :mod:`.collective` -- what a step needs from its peers: no-ops in one process,
  all-gather / all-reduce under torch.distributed
* :mod:`.objectives` -- :func:`build_model` and :class:`Objective`, fronts of the specs
* :mod:`.train` -- :func:`fit`: one loop, atomic checkpoints, resume, NaN stop
* :mod:`.distributed` -- the same loop and steps on W data-parallel ranks (torchrun)
* :mod:`.audit` -- :func:`audit`: primal OT, WGAN dual vs exact W_1, sharpness (sections)
* :mod:`.audit_report` -- ``audit.json``, ``report.md``, figures, samples of a run
"""
from .data import DataSplit, get_data, load_digits, load_mnist, read_idx
from .synthetic import gaussian_mixture, manifold
from .objectives import (MODELS, GenerativeModel, Objective, TrainingDivergedError,
                         build_model, reconstruction_cost)
from .penalties import (LatentAdversary, Penalty, gradient_penalty, kl_gaussian, mmd,
                        sinkhorn_penalty, sliced_w2)
from .run_files import load_checkpoint, read_metrics
from .train import FitResult, TrainConfig, fit, load_run
from .audit import AuditResult, audit, audit_run, sample_run, sharpness  # noqa: E402  (last:
# the function `audit` deliberately shadows the submodule name; import helpers from
# otgen.models.audit with `from otgen.models.audit import ...`)

__all__ = ["DataSplit", "load_digits", "load_mnist", "read_idx", "gaussian_mixture", "manifold",
           "get_data", "MODELS", "GenerativeModel", "Objective", "TrainingDivergedError",
           "build_model", "reconstruction_cost", "LatentAdversary", "Penalty",
           "gradient_penalty", "kl_gaussian", "mmd", "sinkhorn_penalty", "sliced_w2",
           "FitResult", "TrainConfig", "fit", "load_checkpoint", "load_run", "read_metrics",
           "AuditResult", "audit", "audit_run", "sample_run", "sharpness"]
