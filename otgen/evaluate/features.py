r"""The feature map :math:`\phi` under which :func:`otgen.evaluate` compares the two samples.

Every number of the evaluation is computed on :math:`\phi(x_i)` and :math:`\phi(y_j)`:

* ``None`` or ``"identity"``: the flattened pixels / coordinates themselves;
* a ``torch.nn.Module``: applied to tensor batches in its parameters' dtype (float32 when it
  has none) and on their device, under ``torch.no_grad()`` and in ``eval()`` mode (restored
  afterwards);
* any other callable: applied to numpy float64 batches ``(batch, d)``; it may return a numpy
  array or a torch tensor;
* the path of an otgen run directory (``otgen train --out DIR``): the mean of the run's
  encoder :math:`\mu(x)` of :math:`Q(Z|X=x)`, i.e. the latent codes.

Feature maps receive the flattened rows ``(batch, d)``; reshape inside when a network wants
images.  Outputs must be ``(batch, f)`` arrays of finite real numbers.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .._validate import check_int, check_points
from .inputs import as_numpy

#: rows per call of a feature map
BATCH_SIZE = 256


def describe_features(features) -> str:
    """A short human-readable name of a feature map (for reports)."""
    if features is None or (isinstance(features, str) and features == "identity"):
        return "identity"
    if isinstance(features, (str, Path)):
        return f"encoder mean of run {features}"
    return getattr(features, "__name__", None) or type(features).__name__


def apply_features(features, x: np.ndarray, name: str, batch_size: int = BATCH_SIZE):
    r"""The features :math:`\phi(x_i)` of a sample, computed in batches.

    Parameters
    ----------
    features : None, "identity", callable, torch.nn.Module, str or Path
        The feature map (see the module docstring); a string other than ``"identity"`` is
        the path of an otgen run directory.
    x : array (n, d)
        The validated sample (float64).
    name : str
        ``"real"`` or ``"fake"``, for the error messages.
    batch_size : int
        Rows per call of the feature map.

    Returns
    -------
    numpy.ndarray
        ``(n, f)`` float64 features.

    Raises
    ------
    ValueError, TypeError
        An unknown run directory, a run without encoder, a feature map that returns the wrong
        number of rows, a non-2-D, non-numeric or non-finite output.

    Examples
    --------
    >>> x = np.arange(6.0).reshape(3, 2)
    >>> apply_features(lambda b: b[:, :1] * 2, x, "real")
    array([[0.],
           [4.],
           [8.]])

    References
    ----------
    M. Heusel et al. GANs trained by a two time-scale update rule converge to a local Nash
    equilibrium. NeurIPS 2017 (Fréchet distance on Inception features).
    """
    batch_size = check_int(batch_size, "batch_size", 1)
    if features is None or (isinstance(features, str) and features == "identity"):
        return x
    if isinstance(features, (str, Path)):
        features = run_encoder(features, x.shape[1])
    if not callable(features):
        raise TypeError(f"features must be None, 'identity', a callable, a torch.nn.Module or "
                        f"an otgen run directory, got {type(features).__name__}")
    parts = [_call(features, x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    shapes = {p.shape[1:] for p in parts if p.ndim == 2}
    if any(p.ndim != 2 for p in parts) or len(shapes) != 1:
        raise ValueError(f"features({name}) must return 2-D arrays (batch, f) of one width, got "
                         f"shapes {sorted({tuple(p.shape) for p in parts})}")
    out = np.concatenate(parts)
    if len(out) != len(x):
        raise ValueError(f"features({name}) returned {len(out)} rows for {len(x)} inputs")
    return check_points(out, f"features({name})").astype(np.float64, copy=False)


def _call(features, batch: np.ndarray) -> np.ndarray:
    import torch

    if isinstance(features, torch.nn.Module):
        param = next(features.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        was_training = features.training
        features.eval()
        try:
            with torch.no_grad():
                out = features(torch.as_tensor(batch, dtype=dtype, device=device))
        finally:
            features.train(was_training)
    else:
        with torch.no_grad():
            out = features(batch)
    out = as_numpy(out)
    return np.asarray(out) if not isinstance(out, np.ndarray) else out


def run_encoder(run_dir, dim: int):
    """The encoder-mean map :math:`x \\mapsto \\mu(x)` of an otgen run (a torch module)."""
    import torch

    from ..models.train import load_run

    path = Path(run_dir)
    if not path.is_dir():
        raise ValueError(f"features={str(run_dir)!r} is neither 'identity' nor an existing otgen "
                         "run directory")
    model = load_run(path).model
    if not model.has_encoder:
        raise ValueError(f"features: the run {path} ({model.kind}) has no encoder; use a run "
                         "with one (wae-mmd, wae-gan, vae) or another feature map")
    if model.data_dim != dim:
        raise ValueError(f"features: the run {path} encodes {model.data_dim}-D data, but the "
                         f"samples have dimension {dim}")

    class EncoderMean(torch.nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder

        def forward(self, batch):
            return self.encoder(batch)[0]

    return EncoderMean(model.encoder)
