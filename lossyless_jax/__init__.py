"""lossyless_jax: compression for the tasks that use the data, and how far any compressor is from R(D)."""
__version__ = "0.1.0"
