"""COMMAND: python launch/main.py --config=configs/digits_vc.py

VC baseline: reconstruct the augmented input A(x) (the standard neural compressor), on augmented scikit-learn digits (16×16, 'mnist_small' augmentations at train and test
time); factorized entropy bottleneck; then the full evaluation (real bitstreams, probes on the
decoded representations, PNG/JPEG/WebP baselines) and a printed table. ~10 minutes on 2 CPU cores.
`:tiny` shrinks it to a few steps (tests).

λ/β convention (paper §2.5): `coefs.rate.value` = λ = 1/β, the coefficient on the rate in nats;
L = distortion / loss.distortion_factor + λ · rate (code factor_beta: VIC 1, VC 0.5, BINCE 0.003).
"""
from lossyless_jax.methods import lossyless


def get_config(arg: str = ""):
  # λ (= 1/β of the paper's Eq. 8/9) on the rate in nats, with linear warm-up over 10 % of
  # training, is set per method in `lossyless.digits_config` (`c.coefs.rate.value`).
  return lossyless.digits_config("vc", arg)
