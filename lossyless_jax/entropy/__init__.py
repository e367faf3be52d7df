"""Rate layer: quantization, learned entropy models and real entropy coding.

Modules (one concept each):

- ``quantization``: uniform noise, rounding around an offset, straight-through rounding
  (half-to-even and half-toward-zero), ``lower_bound`` (CompressAI's LowerBound, custom_vjp).
- ``factorized``: deep factorized density / ``EntropyBottleneck`` (Ballé et al. 2018), quantiles
  and their aux loss, ``optimizer_labels`` (quantiles -> the ``"aux"`` optimizer group).
- ``gaussian``: mean-scale ``GaussianConditional``, scale table and scale -> table index.
- ``hyperprior``: the lossyless paper's vector scale-mean ``VectorHyperprior``.
- ``affine``: ``AffinePrecision`` wrapper ``(z + b)·exp(s)`` for frozen encoders.
- ``rates``: ``rate_nats`` (losses) and ``nats_to_bits`` (reports).
- ``tables``: 24-bit coding tables built once in float64 on the CPU, with a fingerprint.
- ``coding``: constriction range coding with an escape for out-of-table symbols,
  ``encode_categorical`` / ``decode_categorical``, ``compress`` / ``decompress``.
- ``container``: the file format and its ``BitstreamError`` hierarchy.
- ``testing``: compile-free parameter initialisation for tests.

Submodules are imported explicitly (``from lossyless_jax.entropy import coding``); this
package imports nothing at load time.
"""
