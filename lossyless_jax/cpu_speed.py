"""Speed settings for XLA's CPU backend that leave every result bit-identical.

`apply()` is called by the training loop (and by anything that builds jitted steps) before the
first compilation. It only changes how an operation is compiled, never what it computes:

* **Unrolled Threefry.** JAX lowers its Threefry-2x32 hash on CPU as a rolled 5-iteration loop
  (to keep compile times small), so every round writes its arrays back to memory. NERD draws
  M × latent = 400,000 normals per generator per step, and the rolled loop was most of its step.
  The unrolled lowering (what JAX uses on GPU and TPU) is one fused loop: the same bits, about
  2× faster. `tests/test_perf_layers.py` checks that the bits are the same.

The hook uses a private JAX module; if it moved (another JAX release), `apply()` does nothing
and says so in `status()`.

Kernel choices that change rounding are not made here. On 2 cores ``XLA_FLAGS="--xla_cpu_use_onednn=true
--xla_cpu_experimental_ynn_fusion_type="`` makes the digits VIC and NERD steps 1.6-2× faster
(`benchmarks/RESULTS.md`), but then a step sharded over 8 simulated devices no longer matches one
device's to 1e-7: set them yourself where that does not matter.
"""
from __future__ import annotations

_STATUS = {"threefry_unrolled": None}


def _unroll_threefry() -> bool:
  try:
    from jax._src.interpreters import mlir  # pylint: disable=import-outside-toplevel
    from jax._src.random import threefry2x32 as threefry  # pylint: disable=import-outside-toplevel
    rule = threefry._threefry2x32_lowering_rule  # pylint: disable=protected-access
    primitive = threefry.threefry2x32_p
  except (ImportError, AttributeError):
    return False
  mlir.register_lowering(primitive, rule, platform="cpu")
  return True


def apply() -> dict:
  """Installs the settings (idempotent); returns `status()`."""
  if _STATUS["threefry_unrolled"] is None:
    _STATUS["threefry_unrolled"] = _unroll_threefry()
  return status()


def status() -> dict:
  """Which settings are active: ``{"threefry_unrolled": True | False | None (not applied)}``."""
  return dict(_STATUS)
