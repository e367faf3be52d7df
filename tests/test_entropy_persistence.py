"""Acceptance 7: a bitstream decodes exactly after the model (params + tables) is saved with
Orbax and restored in a fresh process."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import orbax.checkpoint as ocp

from lossyless_jax.entropy import coding
from lossyless_jax.entropy.affine import AffinePrecision
from lossyless_jax.entropy.factorized import EntropyBottleneck
from lossyless_jax.entropy.hyperprior import VectorHyperprior
from lossyless_jax.entropy.testing import numpy_params

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIM = 12

RESTORE_AND_DECODE = textwrap.dedent("""
    import sys
    import numpy as np
    import orbax.checkpoint as ocp
    from lossyless_jax.entropy import coding
    root = sys.argv[1]
    for name in sys.argv[2:]:
        state = ocp.StandardCheckpointer().restore(f"{root}/{name}_ckpt")
        data = open(f"{root}/{name}.bin", "rb").read()
        np.save(f"{root}/{name}_decoded.npy", coding.decompress(state, data))
        z = np.load(f"{root}/{name}_latents.npy")
        assert coding.compress(state, z) == data, "re-encoding in the new process differs"
    print("ok")
""")


def test_decode_after_orbax_restore_in_new_process(tmp_path):
  models = {
    "factorized": EntropyBottleneck(DIM),
    "affine_hyperprior": AffinePrecision(VectorHyperprior(DIM, hidden=64)),
  }
  rng = np.random.default_rng(0)
  expected = {}
  checkpointer = ocp.StandardCheckpointer()
  for name, model in models.items():
    state = coding.make_model_state(numpy_params(model, DIM, seed=1, perturb=0.2))
    z = rng.normal(0, 4, (257, DIM)).astype(np.float32)
    z[3, 4] = -1.5e6  # an escaped symbol
    data = coding.compress(state, z)
    (tmp_path / f"{name}.bin").write_bytes(data)
    np.save(tmp_path / f"{name}_latents.npy", z)
    expected[name] = coding.quantize(state, z)
    checkpointer.save(tmp_path / f"{name}_ckpt", state)
  checkpointer.wait_until_finished()
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]))
  proc = subprocess.run(
    [sys.executable, "-c", RESTORE_AND_DECODE, str(tmp_path), *models],
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  for name in models:
    decoded = np.load(tmp_path / f"{name}_decoded.npy")
    np.testing.assert_array_equal(decoded, expected[name])
