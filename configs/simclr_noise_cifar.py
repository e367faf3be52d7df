"""COMMAND: python launch/main.py --config=configs/simclr_noise_cifar.py[:0|:0.1|:0.3|:0.5|:mock] --config.data.data_dir=DIR

SimCLR with noise injection on CIFAR-10 (noise-injected DIM paper, §4 and Table 1): ResNet18 (CIFAR
stem) and a projector [2048, 256] (embedding d = 256), NT-Xent with temperature 0.2 on two augmented
views; the projector output is batch-normed without affine parameters and Gaussian noise σ is added to
the second view's embedding (the paper does not say where; C = 128·log(1 + 1/σ²): 590.7 / 319.2 /
206.0 nats at σ = 0.1 / 0.3 / 0.5). Augmentations as the paper lists them: RandomResizedCrop(32,
scale (0.08, 1), ratio (3/4, 4/3)), ColorJitter(0.4, 0.4, 0.2, 0.1) with p = 0.8, grayscale p = 0.2,
horizontal flip, then CIFAR mean/std normalisation. LARS with LARC clipping (`optim.scale_by_lars`): base lr 0.3,
momentum 0.9, trust coefficient 0.02 with clipping, weight decay 1e-4 (biases and BN excluded), 10
warm-up epochs then cosine; batch 256, 800 epochs. Table 1 (CIFAR-10 top-1): 90.83 / 90.96 / 91.56 /
90.51 % at σ = 0 / 0.1 / 0.3 / 0.5; the report's `linear_probe_accuracy` is an offline linear probe on
the frozen 512-d backbone output. Needs TFDS cifar10 in DIR and a GPU; not measured here. `:mock` is a
few steps of a narrow ResNet18 on `tfds.testing.mock_data` (tests).
"""
from lossyless_jax import config as config_lib
from lossyless_jax.methods import infomax

SIGMAS = ("0", "0.1", "0.3", "0.5")
EPOCH_STEPS = 50_000 // 256
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.247, 0.2435, 0.2616)
AUGMENT = ("resized_crop(scale=(0.08, 1.0), ratio=(0.75, 1.3333333333333333)); "
           "color(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1, p=0.8); gray(p=0.2); hflip(p=0.5)")


def get_config(arg: str = ""):
  config_lib.check_arg(arg, ("", *SIGMAS, "mock"), "configs/simclr_noise_cifar.py")
  c = infomax.base_config()
  c.data.name = "tfds:cifar10"
  c.data.batch_size = 256
  c.data.eval_batch_size = 500
  c.eval_splits = ("test",)
  c.num_steps = 800 * EPOCH_STEPS
  c.log_every = 50
  c.eval_every = c.checkpoint.every = 50 * EPOCH_STEPS
  c.model.encoder = "resnet18"
  c.model.target = "gauss"
  c.model.input_noise = 0.0
  c.model.augment = AUGMENT
  c.model.normalize_mean, c.model.normalize_std = CIFAR_MEAN, CIFAR_STD
  c.loss.objective = "simclr"
  c.model.projector = (2048, 256)
  c.loss.temperature = 0.2
  c.loss.critic = "mlp"
  c.loss.sigma = float(arg) if arg in SIGMAS else 0.1
  c.optim.name = "lars"
  c.optim.trust_coefficient, c.optim.weight_decay, c.optim.lars_clip = 0.02, 1e-4, True
  c.optim.momentum = 0.9
  c.optim.lr = config_lib.schedule_config(kind="cosine", value=0.3, warmup_steps=10 * EPOCH_STEPS)
  if arg == "mock":
    c.num_steps, c.log_every, c.eval_every, c.checkpoint.every = 2, 1, 2, 2
    c.data.batch_size = c.data.eval_batch_size = 8
    c.data.shuffle_buffer = 16
    c.optim.lr.warmup_steps = 1
    c.model.resnet_width = 4
    c.loss.eval_subsample, c.loss.eval_repetitions, c.loss.eval_mi_batches, c.loss.eval_probe_epochs = 20, 3, 2, 2
    c.model.projector = (32, 16)
  return c


def get_sweep(arg: str = ""):
  """Table 1's rows: σ ∈ {0, 0.1, 0.3, 0.5}."""
  return [{"loss.sigma": float(s)} for s in SIGMAS]
