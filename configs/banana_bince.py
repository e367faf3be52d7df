"""COMMAND: python launch/main.py --config=configs/banana_bince.py

BINCE on the 2-D banana with rotation invariance (paper Sec. 5.1; App. E.1, F.1): two randomly
rotated views through the same factorized entropy bottleneck (z ∈ ℝ², the MLP encoder of
configs/banana_vic.py), projection head, cosine NT-Xent over the 2B−2 in-batch negatives,
learnable temperature (init 0.07, floor 0.01), no effective-batch reweighting; no decoder and no
knowledge of the maximal invariant. The report holds estimated and coded bits, the invariant
distortion and `cells.png`. `:tiny` shrinks it (tests).

λ/β convention (paper §2.5): `coefs.rate.value` = λ = 1/β on the rate in nats;
L = InfoNCE / 0.003 + λ·rate (the authors' factor_beta 0.003), constant (no warm-up).
"""
from lossyless_jax import config as config_lib
from lossyless_jax.methods.lossyless import defaults


def get_config(arg: str = ""):
  config_lib.check_arg(arg, ("", "tiny"), "configs/banana_bince.py")
  c = config_lib.load("configs/banana_vic.py" + (f":{arg}" if arg else ""))
  defaults.switch_method(c, "bince")  # distortion factor 0.003
  c.model.z_dim = 2
  c.model.proj_hidden, c.model.proj_dim = 128, 0
  c.loss.init_temperature, c.loss.min_temperature = 0.07, 0.01
  c.loss.effective_batch_size = 0
  return c


def get_sweep(arg: str = ""):
  """Fig. 5 left (App. E.1): λ ∈ {1e-5, …, 1000} on the rate × 5 seeds."""
  lambdas = (1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1000.0)
  return [{"coefs.rate.value": lam, "seed": s, "data.seed": s} for lam in lambdas for s in range(5)]
