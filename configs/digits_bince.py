"""COMMAND: python launch/main.py --config=configs/digits_bince.py

BINCE (paper Eq. 9, Alg. 3) on the digits of configs/digits_vic.py: two augmented views through
the same bottleneck, a projection head z -> 128 -> max(10, z_dim/2), cosine NT-Xent over the
2B−2 in-batch negatives with a learnable temperature (init 0.07, floor 0.01); no decoder.
`:tiny` shrinks it to a few steps (tests).

λ/β convention (paper §2.5): `coefs.rate.value` = λ = 1/β on the rate in nats;
L = InfoNCE / 0.003 + λ·rate (the authors' factor_beta 0.003 for BINCE).
"""
from lossyless_jax import config as config_lib
from lossyless_jax.methods.lossyless import defaults


def get_config(arg: str = ""):
  config_lib.check_arg(arg, ("", "tiny"), "configs/digits_bince.py")
  c = config_lib.load("configs/digits_vic.py" + (f":{arg}" if arg else ""))
  defaults.switch_method(c, "bince")  # distortion factor 0.003
  c.coefs.rate.value = 40.0  # λ
  c.model.proj_hidden, c.model.proj_dim = 128, 0  # 0: max(10, z_dim // 2)
  c.loss.init_temperature, c.loss.min_temperature = 0.07, 0.01
  c.loss.effective_batch_size = 0  # ML-CPC reweighting off (the authors' "BINCE_basic")
  c.model.eval.cnn_on_reconstructions = False
  return c


def get_sweep(arg: str = ""):
  """Fig. 6a (App. E.3): λ ∈ {0.001, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 100} on the rate × 3 seeds (the authors' code)."""
  lambdas = (0.001, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0)
  return [{"coefs.rate.value": lam, "seed": s, "data.seed": s} for lam in lambdas for s in range(3)]
