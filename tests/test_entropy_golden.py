"""Golden files (`tests/golden/`, written by its `make_golden.py`): a factorized, a hyperprior, a
context and a conditioned context file decode bit-exactly to the committed arrays — here, and in a
subprocess with NumPy's AVX-512 (or AVX2/FMA3) kernels disabled, another OpenBLAS GEMM kernel
(``OPENBLAS_CORETYPE``) and one thread. Decoding runs no XLA: integer tables, the integer networks
of ``integer_net`` (their float64 GEMMs are exact by construction) and single IEEE operations."""
import os
import subprocess
import sys

import numpy as np
import pytest
from flax import serialization

from lossyless_jax.entropy import coding
from lossyless_jax.entropy import context as cx

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
KINDS = ("factorized", "hyperprior", "context", "context_cond")


def decode(kind: str, want: np.lib.npyio.NpzFile) -> np.ndarray:
  with open(os.path.join(GOLDEN, f"{kind}.bin"), "rb") as f:
    data = f.read()
  with open(os.path.join(GOLDEN, f"{kind}.msgpack"), "rb") as f:
    state = serialization.msgpack_restore(f.read())
  if kind.startswith("context"):
    return cx.decompress(state, data, cond=want["cond"] if kind == "context_cond" else None)
  return coding.decompress(state, data)


def check_all() -> None:
  want = np.load(os.path.join(GOLDEN, "decoded.npz"))
  for kind in KINDS:
    got = decode(kind, want)
    assert got.dtype == want[kind].dtype and np.array_equal(got, want[kind]), kind


@pytest.mark.parametrize("kind", KINDS)
def test_golden_file_decodes_bit_exactly(kind):
  want = np.load(os.path.join(GOLDEN, "decoded.npz"))
  got = decode(kind, want)
  assert got.shape == want[kind].shape and np.array_equal(got, want[kind])


def _disabled_features() -> str:
  """NumPy's dispatch targets of this CPU to turn off: the AVX-512 ones, else the AVX2/FMA3 one."""
  import numpy._core._multiarray_umath as umath  # pylint: disable=import-outside-toplevel
  on = [t for t in umath.__cpu_dispatch__ if umath.__cpu_features__.get(t)]
  avx512 = [t for t in on if t == "X86_V4" or t.startswith("AVX512")]
  return " ".join(avx512 or [t for t in on if t == "X86_V3"])


# NumPy's SIMD kernels that the disabled features select: float64 exp differs in last bits with
# AVX-512 turned off; on a CPU without AVX-512 it does not (it has no AVX2 kernel), but float32 exp
# and float64 tanh do with AVX2/FMA3 turned off (an AMD EPYC without AVX-512)
_KERNEL_PROBE = ("np.exp(np.linspace(-700, 700, 1_000_001)).tobytes()"
                 " + np.exp(np.linspace(-80, 80, 1_000_001, dtype=np.float32)).tobytes()"
                 " + np.tanh(np.linspace(-7, 7, 1_000_001)).tobytes()")
_BLAS_PROBE = "[i.get('architecture') for i in threadpoolctl.threadpool_info() if i['internal_api'] == 'openblas']"


def test_golden_files_decode_the_same_with_other_cpu_features_and_threads(tmp_path):
  features = _disabled_features()
  if not features:
    pytest.skip("this CPU has none of AVX-512, AVX2, FMA3 for NumPy to turn off")
  env = dict(os.environ, NPY_DISABLE_CPU_FEATURES=features, JAX_PLATFORMS="cpu",
             XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
             OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", OPENBLAS_CORETYPE="Prescott")
  code = ("import hashlib, sys, threadpoolctl; import numpy as np; sys.path.insert(0, 'tests'); "
          "import test_entropy_golden as t; t.check_all(); "
          f"print(repr({_BLAS_PROBE})); print(hashlib.sha256({_KERNEL_PROBE}).hexdigest())")
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  proc = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  import hashlib
  here = hashlib.sha256(eval(_KERNEL_PROBE)).hexdigest()  # pylint: disable=eval-used
  # the subprocess really ran other kernels: their results differ in last bits, the files' do not
  assert proc.stdout.split()[-1] != here, f"NPY_DISABLE_CPU_FEATURES={features} changed nothing"
  import threadpoolctl
  blas_here = eval(_BLAS_PROBE, {"threadpoolctl": threadpoolctl})  # pylint: disable=eval-used
  blas_there = proc.stdout.strip().splitlines()[-2]
  # the exact-f64 engine's GEMMs ran on another OpenBLAS kernel (where NumPy uses OpenBLAS)
  assert not blas_here or blas_there != repr(blas_here), blas_there
