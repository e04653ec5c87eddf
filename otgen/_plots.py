"""Figure helpers shared by the reports (audit, evaluate): headless matplotlib, one way to save
a figure, and image grids."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, dpi: int = 100) -> Path:
    """Tight layout, save as ``path``, close the figure; returns the path."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return Path(path)


def image_grid(images, image_shape, path, *, ncol: int = 8, title: str | None = None):
    """Save a grid of flattened images (values in [0, 1]) as a PNG: gray for
    ``image_shape = (h, w)``, colour for ``(h, w, 3)``."""
    plt = pyplot()
    x = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if len(x) == 0:
        raise ValueError("image_grid needs at least one image")
    shape = tuple(image_shape)
    (h, w), channels = shape[:2], shape[2:]
    nrow = math.ceil(len(x) / ncol)
    canvas = np.ones((nrow * (h + 1) + 1, ncol * (w + 1) + 1) + channels)
    for k, im in enumerate(x.reshape(-1, *shape)):
        r, c = divmod(k, ncol)
        canvas[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + c * (w + 1): 1 + c * (w + 1) + w] = im
    fig, ax = plt.subplots(figsize=(ncol * 0.6 + 0.4, nrow * 0.6 + (0.6 if title else 0.3)))
    gray = {} if channels else dict(cmap="gray_r", vmin=0, vmax=1)
    ax.imshow(np.clip(canvas, 0, 1), interpolation="nearest", **gray)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)
