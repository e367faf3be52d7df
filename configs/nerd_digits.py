"""NERD on scikit-learn's digits (64 pixels in [0, 1], squared error summed over pixels).

COMMAND: python launch/main.py --config=configs/nerd_digits.py

No closed form: the report checks that the curve is monotone and convex, that R̂ → 0 and
D̂ → E‖X − μ‖² (reported as D_max) as β̃ → 0⁻, and draws k-means vector quantizers
(log2 K, D_K) fit on the train split, which must lie above the curve (nerd.md §6.3, item 7).
Slopes β̃ in nats per unit squared error.
"""
from lossyless_jax.methods import nerd


def get_config(arg=""):
  c = nerd.base_config()
  c.data.name = "digits"
  c.data.eval_batch_size = 360
  c.model.latent_dim = 32
  c.model.hidden = (128, 128)
  # β̃ < 0, nats per unit squared error; R(D) reaches zero rate near β̃ ≈ -0.7 (≈ -1/(2 λ_max), λ_max the
  # largest principal variance), so the slopes crowd the part of the curve with rate.
  c.loss.betas = (-6.0, -4.0, -3.0, -2.4, -2.0, -1.6, -1.2, -0.9, -0.5)
  c.loss.kmeans = (2, 4, 8, 16, 32, 64, 128, 256)  # k-means VQ baselines (log2 K bits)
  return c
