"""otgen: the optimal-transport view of generative modeling, runnable and checkable.

Implements the results of Bousquet et al., "From optimal transport to generative modeling: the
VEGAN cookbook" (2017).  Start with :func:`otgen.theory.wasserstein`.
"""
from .theory import (OTResult, gaussian_w2, ot_cost, sinkhorn_divergence, sliced_wasserstein,
                     wasserstein, wasserstein_1d)

from .evaluate import EvaluationResult, evaluate  # noqa: E402  (the function shadows the
# subpackage name, as otgen.models.audit does; its helpers: `from otgen.evaluate import ...`)

__version__ = "0.1.0"
__all__ = ["OTResult", "wasserstein", "ot_cost", "sinkhorn_divergence", "sliced_wasserstein",
           "gaussian_w2", "wasserstein_1d", "evaluate", "EvaluationResult", "__version__"]
