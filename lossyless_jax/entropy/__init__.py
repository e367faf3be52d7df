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
- ``tables``: 24-bit coding tables and integer networks built once at export, with a fingerprint.
- ``integer_net``: exported integer layers (exact on every machine).
- ``range_coder``: constriction range coding with an escape for out-of-table symbols,
  ``encode_categorical`` / ``decode_categorical``.
- ``codecs``: one codec per entropy model, composable (hyperprior = factorized + Gaussian).
- ``coding``: ``compress`` / ``decompress`` of every model kind through its codec.
- ``context``: the masked-context model and its wavefront codec.
- ``container``: the file format and its ``BitstreamError`` hierarchy; ``streams``: N named
  streams with dependencies; ``one_shot``: reverse-channel coding (NERD).
- ``testing``: compile-free parameter initialisation for tests.

Submodules are imported explicitly (``from lossyless_jax.entropy import coding``); this
package imports nothing at load time.
"""
