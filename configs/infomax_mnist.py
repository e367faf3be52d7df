"""COMMAND: python launch/main.py --config=configs/infomax_mnist.py[:uniform|:mock|:uniform_mock] --config.data.data_dir=DIR

Noise-injected Deep InfoMax on MNIST, the paper's setting (§5, App. C): Table 2's ConvNet on 24×24
images (28×28 centre-cropped; the paper does not say how), embedding d = 2, input-noise augmentation
x' = x + 0.6ξ (pixels in [0, 1], unclipped), Table 2's concatenation critic (256, 256), InfoNCE over
the full 1,024 × 1,024 critic matrix, Adam 1e-3, batch 1,024, 2,000 epochs (117,187 steps).
Default: Gaussian target, σ = 0.1 (C = log 101 = 4.62 nats, Fig. 2a); `:uniform`: ε = 0.05 (bound
2·log 11 = 4.80 nats, Fig. 2b). Needs TFDS mnist prepared in DIR and a GPU (about 1 GiB per critic
activation); not measured here. `:mock` / `:uniform_mock` are a few steps on `tfds.testing.mock_data`
(tests). The capacity sweep of Fig. 1 (5 seeds, C from 0 to 14 nats) is `get_sweep()`.
"""
from lossyless_jax import config as config_lib
from lossyless_jax.losses import infomax as infomax_losses
from lossyless_jax.methods import infomax

EPOCH_STEPS = 60_000 // 1024
CAPACITIES = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0, 14.0)  # nats (Fig. 1's axis)
SEEDS = (0, 1, 2, 3, 4)  # 5 runs per point, 99% intervals (App. C)


def get_config(arg: str = ""):
  config_lib.check_arg(arg, ("", "uniform", "mock", "uniform_mock"), "configs/infomax_mnist.py")
  c = infomax.base_config()
  c.data.name = "tfds:mnist"
  c.data.batch_size = 1024
  c.data.eval_batch_size = 1000
  c.eval_splits = ("test",)
  c.num_steps = 2000 * EPOCH_STEPS
  c.log_every = 100
  c.eval_every = c.checkpoint.every = 10 * EPOCH_STEPS
  c.model.encoder = "mnist_convnet"
  c.model.dim = 2
  c.model.crop = 24
  c.model.input_noise = 0.6
  c.loss.critic_hidden = (256, 256)
  c.loss.sigma = 0.1
  if arg.startswith("uniform"):
    c.model.target = "uniform_pit"  # the digits runs' closer-to-uniform head (configs/infomax_digits_uniform.py)
    c.loss.sigma, c.loss.epsilon = 0.0, 0.05
  if arg.endswith("mock"):
    c.num_steps, c.log_every, c.eval_every, c.checkpoint.every = 2, 1, 2, 2
    c.data.batch_size = c.data.eval_batch_size = 8
    c.data.shuffle_buffer = 16
    c.loss.critic_hidden = (16, 16)
    c.loss.eval_subsample, c.loss.eval_repetitions, c.loss.eval_mi_batches = 20, 3, 2
  return c


def get_sweep(arg: str = ""):
  """Fig. 1: σ of each capacity on the axis (d = 2), noise-free included, × 5 seeds."""
  sigmas = (0.0,) + tuple(round(infomax_losses.sigma_for_capacity(cap, 2), 6) for cap in CAPACITIES)
  return [{"loss.sigma": s, "seed": k, "data.seed": k} for s in sigmas for k in SEEDS]
