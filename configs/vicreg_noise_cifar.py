"""COMMAND: python launch/main.py --config=configs/vicreg_noise_cifar.py[:0|:0.1|:0.3|:0.5|:mock] --config.data.data_dir=DIR

VICReg with noise injection on CIFAR-10 (noise-injected DIM paper, §4 and Table 1): ResNet18 (CIFAR
stem) and a projector [2048, 2048, 2048] (d = 2048), the standard coefficients (25, 25, 1); the
projector output is batch-normed without affine parameters and Gaussian noise σ is added to the second
view's embedding (C = 1024·log(1 + 1/σ²): 4726 / 2554 / 1648 nats at σ = 0.1 / 0.3 / 0.5). Same
augmentations, LARS recipe (base lr 0.3, momentum 0.9, trust 0.02 with clipping, weight decay 1e-4),
batch 256 and 800 epochs as `simclr_noise_cifar.py`. Table 1 (CIFAR-10 top-1): 90.63 / 91.09 / 90.75 /
91.02 % at σ = 0 / 0.1 / 0.3 / 0.5. Needs TFDS cifar10 in DIR and a GPU; not measured here. `:mock`
is a few steps on `tfds.testing.mock_data` (tests).
"""
from lossyless_jax import config as config_lib

SIGMAS = ("0", "0.1", "0.3", "0.5")


def get_config(arg: str = ""):
  config_lib.check_arg(arg, ("", *SIGMAS, "mock"), "configs/vicreg_noise_cifar.py")
  c = config_lib.load("configs/simclr_noise_cifar.py" + (f":{arg}" if arg else ""))  # the shared recipe
  c.loss.objective = "vicreg"
  c.model.projector = (32, 32, 16) if arg == "mock" else (2048, 2048, 2048)
  c.loss.vicreg_coefs = (25.0, 25.0, 1.0)
  return c


def get_sweep(arg: str = ""):
  """Table 1's rows: σ ∈ {0, 0.1, 0.3, 0.5}."""
  return [{"loss.sigma": float(s)} for s in SIGMAS]
