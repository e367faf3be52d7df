import atexit
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# One persistent XLA compilation cache for the session (and the subprocesses it starts): many
# tests train the same tiny models, and a ResNet train step takes ~30 s to compile on 2 cores.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="lossyless_jax_xla_cache_")
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
  atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def launch_module(name: str):
  """launch/<name>.py as a module, loaded once per process (its absl flags can be defined only once)."""
  import importlib.util
  key = f"launch_{name}"
  if key not in sys.modules:
    sys.path.insert(0, os.path.join(ROOT, "launch"))
    spec = importlib.util.spec_from_file_location(key, os.path.join(ROOT, "launch", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[key] = module
  return sys.modules[key]


def run_python(args, env_extra=None, timeout=300, check=True):
  """Runs `python args...` in the repo root with the test environment; returns CompletedProcess."""
  env = dict(os.environ, PYTHONUNBUFFERED="1", **(env_extra or {}))
  proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
  if check and proc.returncode != 0:
    raise AssertionError(f"python {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
  return proc


@pytest.fixture
def python():
  return run_python
