"""Small pieces every audit section shares: exact OT on samples, checked inequalities, numpy
views of tensors, the width of a model's networks."""
from __future__ import annotations

import numpy as np
import torch

#: relative slack for the hard inequalities (floating-point rounding of the LP and the sums)
RTOL = 1e-9


def hidden_widths(model) -> tuple:
    """The hidden widths of ``model``'s decoder (for networks fitted in the audit)."""
    lin = [m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear)]
    return tuple(m.out_features for m in lin[:-1]) or (256, 256)


def to_numpy(t) -> np.ndarray:
    """A tensor as a float64 numpy array (detached, on the CPU)."""
    return t.detach().cpu().double().numpy()


def exact_ot(x, y, p=None, cost=None):
    """The exact OT between two samples (certified interval), for ``|x - y|^p`` or a ground
    ``cost`` (:func:`otgen.theory.wasserstein`)."""
    from ..theory import wasserstein

    return wasserstein(x, y, p=p, cost=cost, method="exact")


def inequality(lhs: float, rhs: float, text: str) -> dict:
    """A hard inequality ``lhs >= rhs`` (up to RTOL relative rounding), as the report stores it."""
    holds = lhs >= rhs - RTOL * max(abs(lhs), abs(rhs), 1e-12)
    return {"holds": bool(holds), "lhs": lhs, "rhs": rhs, "statement": text}
