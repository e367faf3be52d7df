"""COMMAND: python launch/main.py --config=configs/infomax_digits_gauss.py[:dm|:tiny]

Noise-injected Deep InfoMax with the Gaussian target on scikit-learn's digits: d = 2, Gaussian noise
σ = 0.2 on the clean branch (capacity C = log 26 = 3.26 nats, Eq. (5)), input-noise augmentation
x' = x + 0.3ξ, InfoNCE over the full 256 × 256 critic matrix. About 4–7 minutes on 2 CPU cores.

Differences from the paper's MNIST setting (App. C): 8×8 digits and an MLP encoder 64 → 256 → 128 → 2
(LeakyReLU 0.01) instead of Table 2's ConvNet; the concatenation critic has 64-wide hidden layers
(Table 2: 256; the N² pairs dominate the CPU time), batch 256 (paper 1,024), 2,000 steps (≈ 400 epochs; paper 2,000 epochs), one run.
`:dm` is pure distribution matching (Lemma 3.1 with X' = X): no augmentation, σ = 0.5 (C = log 5 =
1.61 nats), Thm 4.1's closed-form critic T*, 4,000 steps (about a minute). `:tiny` is a few steps (tests).
`get_sweep()` is the capacity sweep of Fig. 1 (σ, noise-free included, × 3 seeds); run it with
`launch/sweep.py --config=configs/infomax_digits_gauss.py --field=loss.sigma --values=0,0.03,0.1,0.2,0.3,1
--seeds=0,1,2 --workdir=workdirs/infomax_sweep`, which writes `infomax_sweep.json` and `infomax_sweep.png`.

Measured (2 shared CPU cores; figures in README.md, section "Noise-injected Deep InfoMax").
"""
from lossyless_jax import config as config_lib
from lossyless_jax.methods import infomax

SIGMAS = (0.0, 0.03, 0.1, 0.2, 0.3, 1.0)  # C = ∞ (noise-free), 7.01, 4.62, 3.26, 2.49, 0.69 nats at d = 2
SEEDS = (0, 1, 2)


def get_config(arg: str = ""):
  config_lib.check_arg(arg, ("", "dm", "tiny"), "configs/infomax_digits_gauss.py")
  c = infomax.base_config()
  c.data.name = "digits"  # 1,257 train / 180 validation / 360 test images
  c.eval_splits = ("test", "validation")
  c.model.encoder = "mlp"
  c.model.hidden = (256, 128)
  c.model.dim = 2
  c.model.target = "gauss"
  c.model.input_noise = 0.3
  c.loss.objective = "infonce"
  c.loss.critic = "mlp"
  c.loss.critic_hidden = (64, 64)
  c.loss.sigma = 0.2
  if arg == "dm":
    c.model.input_noise = 0.0
    c.loss.sigma = 0.5
    c.loss.critic = "gaussian"
    c.num_steps = 4000
    c.eval_every = c.checkpoint.every = 1000
  if arg == "tiny":
    c.num_steps, c.log_every, c.eval_every, c.checkpoint.every = 20, 5, 10, 10
    c.data.batch_size = 64
    c.loss.critic_hidden = (32, 32)
    c.loss.eval_subsample, c.loss.eval_repetitions, c.loss.eval_mi_batches = 50, 20, 3
  return c


def get_sweep(arg: str = ""):
  """Fig. 1's capacity sweep: one run per σ (noise-free included) and seed."""
  return [{"loss.sigma": s, "seed": k, "data.seed": k} for s in SIGMAS for k in SEEDS]
