"""COMMAND: python launch/main.py --config=configs/digits_bince.py --workdir=workdirs/digits_bince && python launch/main.py --config=configs/digits_staggered.py:workdirs/digits_bince

The staggered "lossy-Z" recipe (paper §2.6, Table 7 "staggered"): the encoder of a finished digits
run (the `arg`, a workdir; default `workdirs/digits_bince`) is frozen; an affine precision
(z + b)·exp(s) + factorized entropy bottleneck is trained on its representations of the augmented
digits with the L1 feature distortion ‖z − ẑ‖₁, then evaluated like the end-to-end runs.

λ/β convention (paper §2.5, code and Source Code 2): L = ‖z − ẑ‖₁ + λ·rate_nats with λ =
`coefs.rate.value` on the **rate** (λ ∈ {1e-2, 5e-2, 1e-1}; larger λ = fewer bits).
"""
from lossyless_jax.methods import lossyless


def get_config(arg: str = ""):
  workdir, _, size = arg.partition(",")
  c = lossyless.digits_config("staggered", "tiny" if size == "tiny" else "")
  c.model.encoder_workdir = workdir or "workdirs/digits_bince"  # must match model.encoder/channels/z_dim
  c.model.affine = True  # learned rounding precision of the frozen representation
  c.coefs.rate.value = 0.05  # λ on the rate
  c.coefs.rate.warmup_steps = 0 if size == "tiny" else c.coefs.rate.warmup_steps
  if size != "tiny":
    c.num_steps = 1000
    c.eval_every = c.checkpoint.every = 1000
  c.model.eval.cnn_on_reconstructions = False
  c.model.eval.classical = ()
  return c
