"""NERD on Bernoulli(0.3) with Hamming distortion; exact R(D) = h(0.3) - h(D), D = sigmoid(β̃).

COMMAND: python launch/main.py --config=configs/nerd_bernoulli.py

The reproduction is relaxed to y ∈ [0, 1] with d = |x - y| (same R(D) as Hamming: d is linear in
y, so rounding y at random keeps the distortion). A sigmoid generator whose outputs start spread
over [0, 1] (pre-activation × 10) avoids the collapse to the zero-rate point (with all outputs equal
every sample gets the same gradient). Slopes β̃ ∈ {-2, -3} nats per unit Hamming distortion.
"""
from lossyless_jax import config as config_lib
from lossyless_jax.methods import nerd


def get_config(arg=""):
  config_lib.check_arg(arg, ("",), "configs/nerd_bernoulli.py")
  c = nerd.base_config()
  c.data.name = "bernoulli"
  c.data.options.p = 0.3
  c.model.latent_dim = 8
  c.model.hidden = (32, 32)
  c.model.output_activation = "sigmoid"
  c.model.pre_activation_scale = 10.0  # spreads the initial outputs over [0, 1]
  c.loss.betas = (-2.0, -3.0)  # β̃ < 0, nats per unit Hamming distortion
  c.loss.distortion = "hamming_relaxed"
  return c
