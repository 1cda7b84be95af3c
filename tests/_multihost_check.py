"""One process of the two-process (multi-host) check, started twice by ``test_multihost.py``.

Each process starts JAX's distributed runtime on a localhost coordinator with one CPU device
of its own (CPU collectives over gloo), so ``jax.devices()`` lists two devices in two
processes, as on two hosts. Both run the same program (docs/scaling.md, *Several hosts*): the
tiled statistic, the permutation test and the RFF test with ``devices=jax.devices()``, and
print one line ``RESULT <json>`` with their statistics and p-values::

    JAX_PLATFORMS=cpu python tests/_multihost_check.py PROCESS_ID PORT

Importing this file runs nothing; ``cases`` is the one list of calls, shared with the test's
single-process run.
"""

import json
import sys

N, SEED = 150, 0


def data():
    import numpy as np

    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(N, 2))
    y = np.sin(x[:, :1]) + 0.8 * rng.normal(size=(N, 1))
    return x, y


def cases(devices):
    """``name -> call``: each call returns ``[statistic, pvalue]`` (``pvalue`` None for the
    bare statistic) on ``devices`` (None: one process, no mesh)."""
    import hsic

    x, y = data()

    def statistic():
        return [float(hsic.hsic(x, y, algorithm="tiled", devices=devices)), None]

    def permutation():
        res = hsic.test(x, y, method=hsic.Permutation(n_resamples=200), rng=1, devices=devices)
        return [float(res.statistic), float(res.pvalue)]

    def rff():
        res = hsic.test(x, y, method=hsic.RFF(n_features=20), rng=2, devices=devices)
        return [float(res.statistic), float(res.pvalue)]

    return {"tiled statistic": statistic, "permutation": permutation, "rff": rff}


def main(process_id: int, port: int) -> None:
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"localhost:{port}", num_processes=2, process_id=process_id,
        local_device_ids=[0], initialization_timeout=120,
    )
    assert jax.process_count() == 2 and len(jax.devices()) == 2, jax.devices()
    assert len(jax.local_devices()) == 1, jax.local_devices()
    out = {name: call() for name, call in cases(jax.devices()).items()}
    print("RESULT " + json.dumps({"process": process_id, "devices": len(jax.devices()),
                                  "results": out}), flush=True)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
