"""COMMAND: python launch/main.py --config=configs/banana_vic.py

VIC on the 2-D banana with rotation invariance (paper Sec. 5.1, Fig. 5; App. E.1): encode a randomly
rotated point A(x), reconstruct the maximal invariant Rot·[‖x‖, 0] at 225° (Gaussian/MSE); z ∈ ℝ²,
MLP encoder/decoder (2 softplus hidden layers), factorized entropy bottleneck. The report holds
estimated and coded bits, the invariant distortion (test MSE of the best predictor of the maximal
invariant from ẑ) and writes the quantization-cell plot `cells.png` (rings) with its ring score.
Deviation from the paper to run in ~2 minutes on 2 CPU cores: 256 hidden units (paper 1024), batch
1024 (paper 8192), 1,500 steps, lr 1e-3 -> 1e-5 (paper -> 1e-6); see `lossyless.banana_config`.
λ sweep (Fig. 5 left): `python launch/sweep.py --config=configs/banana_vic.py --values=...`.
`:tiny` shrinks it to a few steps (tests).

λ/β convention (paper §2.5): `coefs.rate.value` = λ = 1/β, the coefficient on the rate in nats;
L = distortion / loss.distortion_factor + λ · rate (code factor_beta: VIC 1, VC 0.5, BINCE 0.003).
"""
from lossyless_jax.methods import lossyless


def get_config(arg: str = ""):
  # λ = 0.07 (Fig. 5 right; = 1/β of Eq. 7/8) on the rate in nats, constant (no warm-up for
  # Banana), is set in `lossyless.banana_config` (`c.coefs.rate.value`).
  return lossyless.banana_config("vic", arg)
