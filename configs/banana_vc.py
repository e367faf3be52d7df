"""COMMAND: python launch/main.py --config=configs/banana_vc.py

VC baseline on the 2-D banana (paper Sec. 5.1, Fig. 5; App. E.1): the standard neural compressor
encodes the raw banana point x and reconstructs x (as in the authors' code, only VIC's input is a
random orbit element); z ∈ ℝ², everything else as configs/banana_vic.py. The report measures the
same invariant distortion as VIC (test MSE of the best predictor of the maximal invariant from ẑ)
and writes `cells.png` with its ring score (no rings expected). `:tiny` shrinks it (tests).

λ/β convention (paper §2.5): `coefs.rate.value` = λ = 1/β on the rate in nats;
L = distortion + λ·rate (factor_beta 1 on Banana), constant (no warm-up).
"""
from lossyless_jax import config as config_lib
from lossyless_jax.methods.lossyless import defaults


def get_config(arg: str = ""):
  config_lib.check_arg(arg, ("", "tiny"), "configs/banana_vc.py")
  c = config_lib.load("configs/banana_vic.py" + (f":{arg}" if arg else ""))
  defaults.switch_method(c, "vc", distortion_factor=1.0)  # factor 1 on Banana
  c.model.z_dim = 2
  c.model.p_augment = 0.0  # the raw x
  return c


def get_sweep(arg: str = ""):
  """Fig. 5 left (App. E.1): λ ∈ {1e-5, …, 1000} on the rate × 5 seeds."""
  lambdas = (1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1000.0)
  return [{"coefs.rate.value": lam, "seed": s, "data.seed": s} for lam in lambdas for s in range(5)]
