"""Progress messages of long solves, through the standard ``logging`` module.

A certified Sinkhorn solve at n = 100,000 runs for tens of minutes on a CPU, in a loop whose
length is not known in advance (sweeps until the marginals match, eps rounds until the gap meets
``tol``), so a bar with a total would lie; the solvers report what they know instead: one line
per eps round or column-generation round (eps, sweeps, the certified interval so far), and a
line per sweep at most every :data:`SWEEP_EVERY_S` seconds.

Messages go to the ``"otgen"`` logger at INFO level: configure it like any other logger, or pass
``verbose=True`` to :func:`otgen.theory.wasserstein` (``otgen distance --verbose``) to have
them printed to stderr for the duration of one call.
"""
from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager

logger = logging.getLogger("otgen")

#: a sweep-level line is logged at most this often (eps-round lines are always logged)
SWEEP_EVERY_S = 10.0


@contextmanager
def verbose_logging(enabled: bool):
    """Print otgen's INFO messages to stderr inside the block when ``enabled``."""
    if not enabled:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("otgen %(asctime)s  %(message)s", "%H:%M:%S"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class SweepTicker:
    """Logs a sweep-level message at most every :data:`SWEEP_EVERY_S` seconds (cheap when
    logging is off)."""

    def __init__(self):
        self.every = SWEEP_EVERY_S
        self.active = logger.isEnabledFor(logging.INFO)
        self.last = time.monotonic()

    def __call__(self, message_fn):
        """Log ``message_fn()`` if enough time has passed; the string is built only then."""
        if not self.active:
            return
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            logger.info(message_fn())



def warn_caller(message: str, category=RuntimeWarning) -> None:
    """Issue a warning attributed to the first frame outside the otgen package (the user's
    line), however deep inside otgen it was raised."""
    import os
    import warnings

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(1), 2  # stacklevel 1 is this function, 2 its caller
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
