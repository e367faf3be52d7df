"""Registers ``vic``, ``vc``, ``bince`` and ``staggered`` ("Lossy Compression for Lossless
Prediction", Dubois et al., 2021) with the method registry."""
from __future__ import annotations

from lossyless_jax import methods
from lossyless_jax.methods.lossyless import defaults, model, objective, report

METHODS = {name: methods.register(methods.Method(
    name, model.init, objective.loss, objective.evaluate, report.run,
    validate=defaults.validate, rerun_safe=("model.eval.",), summary=report.summary,
    float32_params=("rate",))) for name in defaults.KINDS}
