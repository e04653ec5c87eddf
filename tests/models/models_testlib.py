"""Helpers shared by the otgen.models tests."""
from otgen.models import TrainConfig


def tiny(model="wae-mmd", **kw):
    """A config that trains in well under a second on 200 2-D points."""
    base = dict(model=model, data="mixture", data_options={"n_train": 200, "n_test": 60, "k": 4},
                latent_dim=2, hidden=(16, 16), epochs=2, batch_size=20, checkpoint_every=5,
                log_every=5)
    base.update(kw)
    return TrainConfig(**base)
