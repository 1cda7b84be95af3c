"""Helpers that several test files share (not references: those are in ``reference.py``)."""

import contextlib

import jax
import numpy as np

import hsic

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


@contextlib.contextmanager
def count_compilations():
    """Count XLA compilations (any function) inside the block: ``with ... as count: count[0]``."""
    count = [0]

    def listener(event, duration, **kwargs):
        if event == COMPILE_EVENT:
            count[0] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield count
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def rejections_under_independence(method, replications, n, seed, alpha=0.05):
    """How many of ``replications`` independent (normal, Student-t) pairs of ``n`` samples
    ``hsic.test(..., method=method)`` rejects at ``alpha``."""
    rng = np.random.default_rng(seed)
    rejected = 0
    for r in range(replications):
        x = rng.normal(size=n)
        y = rng.standard_t(df=3, size=n)
        rejected += hsic.test(x, y, method=method, rng=r).pvalue <= alpha
    return rejected
