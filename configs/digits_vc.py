"""COMMAND: python launch/main.py --config=configs/digits_vc.py

VC, the standard neural compressor baseline, on the digits of configs/digits_vic.py: encode A(x)
and reconstruct A(x) itself. Everything else (data, networks, evaluation) is digits_vic's.
`:tiny` shrinks it to a few steps (tests).

λ/β convention (paper §2.5): `coefs.rate.value` = λ = 1/β on the rate in nats;
L = 2·distortion + λ·rate (the authors' factor_beta 0.5 for VC).
"""
from lossyless_jax import config as config_lib
from lossyless_jax.methods.lossyless import defaults


def get_config(arg: str = ""):
  config_lib.check_arg(arg, ("", "tiny"), "configs/digits_vc.py")
  c = config_lib.load("configs/digits_vic.py" + (f":{arg}" if arg else ""))
  defaults.switch_method(c, "vc")  # distortion factor 0.5
  c.coefs.rate.value = 0.1  # λ
  return c


def get_sweep(arg: str = ""):
  """Fig. 6a (App. E.3): λ ∈ {0.001, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 100} on the rate × 3 seeds (the authors' code)."""
  lambdas = (0.001, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0)
  return [{"coefs.rate.value": lam, "seed": s, "data.seed": s} for lam in lambdas for s in range(3)]
