"""COMMAND: python launch/main.py --config=configs/banana_vc.py

VC baseline on the 2-D banana with rotation invariance (paper Sec. 5.1, Fig. 5; App. E.1): the
standard neural compressor, encode a randomly rotated point A(x) and reconstruct A(x) itself
(Gaussian/MSE); z ∈ ℝ², MLP encoder/decoder (2 softplus hidden layers), factorized entropy
bottleneck. The report holds estimated and coded bits, the same invariant distortion as VIC (test
MSE of the best predictor of the maximal invariant from ẑ) and writes the quantization-cell plot
`cells.png` with its ring score (no rings expected).
Deviation from the paper (256 hidden units, batch 1024, 1,500 steps, so that it runs in ~2 minutes
on 2 CPU cores) as in configs/banana_vic.py. `:tiny` shrinks it to a few steps (tests).

λ/β convention (paper §2.5): `coefs.rate.value` = λ = 1/β, the coefficient on the rate in nats;
L = distortion / loss.distortion_factor + λ · rate (code factor_beta: VIC 1, VC 0.5, BINCE 0.003).
"""
from lossyless_jax.methods import lossyless


def get_config(arg: str = ""):
  # λ = 0.07 (Fig. 5 right; = 1/β of Eq. 7/8) on the rate in nats, constant (no warm-up for
  # Banana), is set in `lossyless.banana_config` (`c.coefs.rate.value`).
  return lossyless.banana_config("vc", arg)
