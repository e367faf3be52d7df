"""NERD on scikit-learn's digits (64 pixels in [0, 1], squared error summed over pixels).

COMMAND: python launch/main.py --config=configs/nerd_digits.py

No closed form: on the trusted points (not near log2 M or log2 M_train) the report checks that the
curve is monotone and convex and that R̂ → 0 and D̂ → E‖X − μ‖² (reported as D_max) as β̃ → 0⁻. It
compares k-means vector quantizers (log2 K, D_K), fit on the train split, with the curve (an
operational point cannot lie below R(D); the paper has no k-means baseline): for each K the
curve's R̂ interpolated at D_K and the margin log2 K − R̂(D_K), None where D_K is outside the
trusted points' D̂ range; `kmeans_in_range` counts the K inside that range and `kmeans_above` those
of them above the curve. Slopes β̃ in nats per unit squared error. The k-means points at 6–8 bits
need generator capacity: FC (128, 128) with latent 32 puts the curve above them, FC (256, 256, 256)
with latent 64 below them after 3,000 steps. The run takes about 11 CPU-minutes.
"""
from lossyless_jax import config as config_lib
from lossyless_jax.methods import nerd


def get_config(arg=""):
  config_lib.check_arg(arg, ("",), "configs/nerd_digits.py")
  c = nerd.base_config()
  c.data.name = "digits"
  c.data.eval_batch_size = 360
  c.num_steps = c.eval_every = 3000
  c.model.latent_dim = 64
  c.model.hidden = (256, 256, 256)
  c.loss.num_samples = 2000  # M per step (log2 M ≈ 11 bits, above the 8 bits of the largest K)
  # β̃ < 0, nats per unit squared error; R(D) reaches zero rate near β̃ ≈ -0.7 (≈ -1/(2 λ_max), λ_max the
  # largest principal variance), so the slopes cover the k-means distortions (K = 2 ... 256) and that end.
  c.loss.betas = (-6.0, -4.0, -3.0, -2.0, -1.2, -0.5)
  c.loss.kmeans = (2, 4, 8, 16, 32, 64, 128, 256)  # k-means VQ baselines (log2 K bits)
  return c
