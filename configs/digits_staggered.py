"""COMMAND: python launch/main.py --config=configs/digits_staggered_encoder.py --workdir=workdirs/digits_staggered_encoder && python launch/main.py --config=configs/digits_staggered.py --workdir=workdirs/digits_staggered

Step 2 of the staggered "lossy-Z" recipe (paper §2.6, Table 7 "staggered"): the encoder of step
1 (configs/digits_staggered_encoder.py, trained without a rate term; the `arg` names its workdir,
default `workdirs/digits_staggered_encoder`) is frozen; an affine precision (z + b)·exp(s) and a
factorized entropy bottleneck are trained on its representations of the augmented digits with
the L1 feature distortion ‖z − ẑ‖₁, then evaluated like the end-to-end runs.
`:<workdir>,tiny` shrinks it (tests); a workdir given in the arg must exist.

λ/β convention (paper §2.6, Source Code 2): L = ‖z − ẑ‖₁ + λ·rate_nats with λ = `coefs.rate.value`
on the **rate** (the paper uses λ ∈ {1e-2, 5e-2, 1e-1}; larger λ = fewer bits).
"""
import os

from lossyless_jax import config as config_lib
from lossyless_jax.methods.lossyless import defaults


def get_config(arg: str = ""):
  workdir, _, size = arg.partition(",")
  expected = "expected '<encoder workdir>[,tiny]' (no arg: workdirs/digits_staggered_encoder)"
  if size not in ("", "tiny"):
    raise config_lib.ConfigError(f"configs/digits_staggered.py: arg {arg!r}; {expected}")
  if workdir and not os.path.isdir(workdir):  # (also what a misplaced ':tiny' or a typo lands on)
    raise config_lib.ConfigError(f"configs/digits_staggered.py: arg {arg!r}: no encoder workdir {workdir!r} (train "
                                 f"configs/digits_staggered_encoder.py there first); {expected}")
  c = config_lib.load("configs/digits_vic.py" + (f":{size}" if size else ""))
  defaults.switch_method(c, "staggered")  # distortion factor 1
  c.model.encoder_workdir = workdir or "workdirs/digits_staggered_encoder"  # same encoder/channels/z_dim
  c.model.affine = True  # learned rounding precision of the frozen representation
  # the authors' ArrayCompressor recipe (App. E.7): lr 0.1, divided by 10 every fifth of training
  c.optim.lr = config_lib.schedule_config(kind="step", value=0.1, boundaries=(200, 400, 600, 800), factor=0.1)
  c.coefs.rate.value = 0.05  # λ on the rate
  if size != "tiny":
    c.num_steps = c.eval_every = c.checkpoint.every = 1000
    c.coefs.rate.warmup_steps = 100
  c.model.eval.cnn_on_reconstructions = False
  c.model.eval.classical = ()
  c.model.eval.uncompressed = False
  return c


def get_sweep(arg: str = ""):
  """§2.6 / Table 3's EB⁻, EB, EB⁺: λ ∈ {1e-2, 5e-2, 1e-1} on the rate."""
  return [{"coefs.rate.value": lam} for lam in (1e-2, 5e-2, 1e-1)]
