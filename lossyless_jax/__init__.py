"""lossyless_jax: compression for the tasks that use the data, and how far any compressor is from R(D).

``lossyless_jax.Compressor.load(workdir)`` compresses your own data with a trained run (`api`);
it is imported on first use, so ``import lossyless_jax`` stays cheap.
"""
__version__ = "0.1.0"
__all__ = ["Compressor"]


def __getattr__(name):
  if name == "Compressor":
    from lossyless_jax.api import Compressor
    return Compressor
  raise AttributeError(f"module 'lossyless_jax' has no attribute {name!r}")
