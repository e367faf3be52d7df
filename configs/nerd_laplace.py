"""NERD on a Laplace(1) source with absolute-error distortion; exact R(D) = log2(1/D), D = -1/β̃.

COMMAND: python launch/main.py --config=configs/nerd_laplace.py

Lagrangian mode at β̃ ∈ {-2, -4} (nats per unit |x - y|); FC generator with hidden (32, 32),
latent 8. Shows that NERD needs only a differentiable distortion (§IV-F).
"""
from lossyless_jax import config as config_lib
from lossyless_jax.methods import nerd


def get_config(arg=""):
  config_lib.check_arg(arg, ("",), "configs/nerd_laplace.py")
  c = nerd.base_config()
  c.data.name = "laplace"
  c.model.latent_dim = 8
  c.model.hidden = (32, 32)
  c.loss.betas = (-2.0, -4.0)  # β̃ < 0, nats per unit absolute error
  c.loss.distortion = "l1"
  return c
