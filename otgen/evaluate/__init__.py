"""Evaluate a generative model against real data: certified W_2^2 / W_1 with population
intervals, the Fréchet distance as the Gelbrich lower bound, MMD^2 and KID, precision / recall
and density / coverage, and the sample-size curve of each; reports as markdown, JSON and PNGs.

* :mod:`.inputs` -- files, image folders, arrays, tensors, ``draw(n)`` callables; validation
* :mod:`.features` -- identity, a callable / ``nn.Module``, or an otgen run's encoder
* :mod:`.transport` -- certified W_p and bootstrap intervals (:mod:`otgen.theory`)
* :mod:`.frechet`, :mod:`.mmd`, :mod:`.manifold` -- the other numbers, with jackknife or
  conditional standard errors (:mod:`.jackknife`)
* :mod:`.curve` -- the sample-size curve and its power-law fit
* :mod:`.core` -- :func:`evaluate`, :class:`EvaluationResult`; :mod:`.report` -- the files
"""
from .core import EvaluationResult, evaluate
from .curve import sample_size_curve
from .features import apply_features
from .frechet import frechet_distance
from .inputs import load_images, load_points
from .manifold import prdc
from .mmd import kernel_mmds
from .report import write_report
from .transport import certified_w

__all__ = ["evaluate", "EvaluationResult", "write_report", "load_points", "load_images",
           "apply_features", "certified_w", "frechet_distance", "kernel_mmds", "prdc",
           "sample_size_curve"]
