"""Estimators of optimal transport costs :math:`W_c(P, Q)` between samples, with certified bounds.

Layers: :mod:`.ground_costs` (cost objects and their error bounds), :mod:`.costs` (lazy
reductions) -> solvers (:mod:`.exact`,
:mod:`.sparse`, :mod:`.entropic`, :mod:`.multiscale`, :mod:`.closed_form`, :mod:`.sliced`) ->
:mod:`.certify` (bounds) -> :class:`.result.OTResult`, dispatched by
:func:`.wasserstein.wasserstein`; :mod:`.population` (many problems, bootstrap intervals) and
the paper's programs (:mod:`.encoders`, :mod:`.information`) on top.
"""
from .closed_form import gaussian_w2, wasserstein_1d
from .entropic import sinkhorn_divergence
from .ground_costs import Cosine, Euclidean, GroundCost, Minkowski
from .ot_cost import ot_cost
from .plans import SparseCoupling
from .result import OTResult
from .sinkhorn_config import EpsSchedule, SinkhornConfig
from .sliced import sliced_wasserstein
from .wasserstein import wasserstein
from .encoders import EncoderOTResult, PenalizedOTResult, encoder_ot, penalized_ot
from .decoders import (ConditionalMeanDecoder, conditional_mean_decoder, lipschitz_constant,
                       sharpness)
from .information import KLDecomposition, vae_kl_decomposition
from .population import PopulationCI, population_ci, wasserstein_many

__all__ = ["OTResult", "SparseCoupling", "wasserstein", "ot_cost", "sinkhorn_divergence",
           "sliced_wasserstein", "gaussian_w2", "wasserstein_1d"]
__all__ += ["GroundCost", "Euclidean", "Minkowski", "Cosine", "SinkhornConfig", "EpsSchedule"]
__all__ += ["encoder_ot", "EncoderOTResult", "penalized_ot", "PenalizedOTResult",
            "lipschitz_constant", "conditional_mean_decoder", "ConditionalMeanDecoder",
            "sharpness", "vae_kl_decomposition", "KLDecomposition"]
__all__ += ["wasserstein_many", "population_ci", "PopulationCI"]
