"""COMMAND: python launch/main.py --config=configs/banana_bince.py

BINCE on the 2-D banana with rotation invariance (paper Sec. 5.1; App. E.1, F.1): two randomly
rotated views through the same factorized entropy bottleneck (z ∈ ℝ², MLP encoder with 2 softplus
hidden layers), projection head, cosine NT-Xent over the 2B−2 in-batch negatives, learnable
temperature (init 0.07, floor 0.01), no effective-batch reweighting ([C] for Banana); no decoder,
no knowledge of the maximal invariant. The report holds estimated and coded bits, the invariant
distortion (test MSE of the best predictor of the maximal invariant from ẑ) and `cells.png`.
Deviation from the paper (256 hidden units, batch 1024, 1,500 steps; ~2 minutes on 2 CPU cores) as in
configs/banana_vic.py. `:tiny` shrinks it to a few steps (tests).

λ/β convention (paper §2.5): `coefs.rate.value` = λ = 1/β, the coefficient on the rate in nats;
L = distortion / loss.distortion_factor + λ · rate (code factor_beta: VIC 1, VC 0.5, BINCE 0.003).
"""
from lossyless_jax.methods import lossyless


def get_config(arg: str = ""):
  # λ = 0.07 (= 1/β of Eq. 9) on the rate in nats, constant (no warm-up for Banana), with the
  # InfoNCE term weighted 1/0.003 (code factor_beta), is set in `lossyless.banana_config`.
  return lossyless.banana_config("bince", arg)
