"""Several hosts: two processes joined by ``jax.distributed`` give one process's results.

JAX's distributed runtime is started once per process, so the two "hosts" are two
subprocesses on this machine (``_multihost_check.py``), each with one CPU device, a localhost
coordinator on a free port and gloo CPU collectives. Together they run the tiled statistic,
the permutation test and the RFF test over both devices; this process runs the same calls
without a mesh, and the results must agree: the statistics to float rounding, the
permutation p-value exactly (the permutations are drawn on the host from ``rng``), the RFF
p-value to float rounding.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _multihost_check  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _run_two_processes() -> list[dict]:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    # one device per process: drop any forced host-device count from the environment
    env["XLA_FLAGS"] = " ".join(
        flag for flag in env.get("XLA_FLAGS", "").split()
        if not flag.startswith("--xla_force_host_platform_device_count")
    )
    port = str(_free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, "-W", "error", str(HERE / "_multihost_check.py"), str(i), port],
            env=env, cwd=HERE.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(2)
    ]
    outputs = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=300)
            outputs.append((proc.returncode, stdout, stderr))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    results = []
    for code, stdout, stderr in outputs:
        assert code == 0, stdout + stderr
        line = next(li for li in stdout.splitlines() if li.startswith("RESULT "))
        results.append(json.loads(line[len("RESULT "):]))
    return results


def test_two_processes_match_one_process():
    results = _run_two_processes()
    assert sorted(r["process"] for r in results) == [0, 1]
    assert all(r["devices"] == 2 for r in results)
    # both processes get the same replicated values
    assert results[0]["results"] == results[1]["results"]
    many = results[0]["results"]
    one = {name: call() for name, call in _multihost_check.cases(None).items()}
    assert set(many) == set(one) == {"tiled statistic", "permutation", "rff"}
    for name, (stat, pvalue) in one.items():
        np.testing.assert_allclose(many[name][0], stat, rtol=1e-5, err_msg=name)
        if name == "permutation":
            assert many[name][1] == pvalue
        elif pvalue is not None:
            np.testing.assert_allclose(many[name][1], pvalue, rtol=1e-5, err_msg=name)
    # the data are dependent: the tests see it, in both runs
    assert one["permutation"][1] < 0.05 and one["rff"][1] < 0.05


def test_the_compared_statistic_is_the_biased_hsic():
    """The statistic compared above is the biased HSIC: a NumPy transcription of
    tr(K H L H)/n² with the same median-heuristic bandwidths."""
    import hsic

    x, y = _multihost_check.data()
    stat, _ = _multihost_check.cases(None)["tiled statistic"]()
    res = hsic.test(x, y, method="gamma")

    def gram(a, s):
        d = ((a[:, None, :] - a[None, :, :]) ** 2).sum(-1)
        return np.exp(-d / (2 * s * s))

    n = x.shape[0]
    H = np.eye(n) - 1.0 / n
    K, L = gram(x, res.bandwidth_x), gram(y, res.bandwidth_y)
    np.testing.assert_allclose(stat, np.trace(K @ H @ L @ H) / n**2, rtol=1e-4)
