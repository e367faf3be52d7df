"""COMMAND: python launch/main.py --config=configs/digits_staggered_encoder.py --workdir=workdirs/digits_staggered_encoder

Step 1 of the staggered recipe (paper §2.6, Table 7 "staggered"): the BINCE encoder of
configs/digits_bince.py trained **without a rate term** (no entropy bottleneck; the authors'
`rate=lossless`). The report probes the continuous z (nothing is coded). Step 2,
configs/digits_staggered.py, freezes this encoder and trains the entropy bottleneck on it.
`:tiny` shrinks it to a few steps (tests).

λ/β convention (paper §2.5): no rate term, so `coefs.rate.value` (λ) is unused;
L = InfoNCE / 0.003 (the authors' factor_beta 0.003 for BINCE).
"""
from lossyless_jax import config as config_lib


def get_config(arg: str = ""):
  config_lib.check_arg(arg, ("", "tiny"), "configs/digits_staggered_encoder.py")
  c = config_lib.load("configs/digits_bince.py" + (f":{arg}" if arg else ""))
  c.model.rate = "none"
  del c.optim.groups["aux"]  # no entropy model, no quantiles
  c.model.eval.classical = ()
  c.model.eval.uncompressed = False
  return c
