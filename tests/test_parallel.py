"""Data parallelism: 8-device vs 1-device equivalence, and 2 local hosts through jax.distributed."""
import json
import os
import socket
import subprocess
import sys

import numpy as np

from conftest import ROOT


def test_eight_devices_equal_one_device_for_contrastive_loss(python):
  out = python(["tests/scripts/multidevice_step.py"], {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"})
  result = json.loads(out.stdout.strip().splitlines()[-1])
  assert result["shards_8"] == 8 and result["shards_1"] == 1
  assert result["rel_loss"] <= 1e-5
  assert result["rel_grads"] <= 1e-5
  assert result["rel_params"] <= 1e-5


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_two_processes_hold_identical_params_equal_to_one_process(tmp_path, python):
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", PYTHONUNBUFFERED="1")
  port = str(_free_port())
  multi = str(tmp_path / "multi")
  procs = [subprocess.Popen([sys.executable, "tests/scripts/multihost_run.py", multi, str(i), "2", port], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
  outs = [p.communicate(timeout=300)[0] for p in procs]
  assert all(p.returncode == 0 for p in procs), "\n".join(o[-3000:] for o in outs)
  single = str(tmp_path / "single")
  python(["tests/scripts/multihost_run.py", single, "0", "1", "0"], {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
  w0, w1 = (np.load(os.path.join(multi, f"params_w_process{i}.npy")) for i in range(2))
  ref = np.load(os.path.join(single, "params_w_process0.npy"))
  assert np.array_equal(w0, w1)
  np.testing.assert_allclose(w0, ref, rtol=1e-5, atol=1e-6)
  assert not np.allclose(ref, 0)
  with open(os.path.join(multi, "report.json")) as f:
    report = json.load(f)
  assert report["steps"] == 8 and report["process_count"] == 2
