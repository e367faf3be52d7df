"""COMMAND: python launch/main.py --config=configs/gray_wyner_cityscapes.py:smoke

Learnable Gray-Wyner network on Cityscapes (Gray-Wyner paper §4.3, App. D.5, Tables 1 and 7): one
image, a common channel and two private ones; task 1 is semantic segmentation by a frozen
DeepLabV3+ (MobileNetV2, OS16), task 2 disparity by a frozen LRASPP (MobileNetV3-Large), each
wrapped by the learned ×2 samplers of §3.6. Arg: ``codec`` (shared | separated | combined |
independent | joint; default shared, the paper's "Proposed"), or ``smoke[,codec]``.

Table 1: 1024×2048 inputs in [0, 1], M = 3, E = 192, w_aux = γ = 1, w_rec = 1 (RMSE of the
reconstructions on the 0–255 scale), hflip and colour jitter (b/c/s 0.5), batch 4 with 3 gradients
accumulated (12 per update), Adam (0.9, 0.999) lr 1e-4, wd 0, global-norm clip 1, patience 50, at
most 1,000 epochs (2,975 training images: 743 batches of 4 per epoch; the last partial batch is
dropped), validation on the 500 validation images every epoch with the objective
``bpp_scaled + 1/mIoU + RMSE_px`` (§2.3), β = 1 (unstated in the paper; the authors' default).
`get_sweep()` gives Table 7's η per codec (Joint and Independent {0.001, 0.01, 0.05, 0.1, 1},
Proposed also 5).

Before the full run: Cityscapes in ``config.data.data_dir`` (``leftImg8bit/``, ``gtFine/``,
``disparity/``; the official layout) and the two frozen task networks in ``config.tasks``
(``task_weights.msgpack`` of the stage-0 runs of ``configs/cityscapes_segmentation_samplers.py`` and
``configs/cityscapes_depth.py``). Without them the run stops at start-up, naming what is missing.
``:smoke`` writes a fake tree (random 64×128 images) under ``config.data.data_dir``, uses tiny
random frozen task networks, E = 8 and a few steps: it tests the path, not the paper.
"""
from lossyless_jax import config as config_lib
from lossyless_jax.methods.gray_wyner import cityscapes as gw_cityscapes
from lossyless_jax.methods.gray_wyner import method

CODECS = ("shared", "separated", "combined", "independent", "joint")
ETAS = {"joint": (0.001, 0.01, 0.05, 0.1, 1.0), "independent": (0.001, 0.01, 0.05, 0.1, 1.0),
        "shared": (0.001, 0.01, 0.05, 0.1, 1.0, 5.0)}  # Table 7
TRAIN_IMAGES = 2975
FILE = "configs/gray_wyner_cityscapes.py"


def _parse(arg: str) -> tuple[bool, str]:
  parts = [p for p in arg.split(",") if p] if arg else []
  smoke = bool(parts) and parts[0] == "smoke"
  if smoke:
    parts = parts[1:]
  codec = parts[0] if parts else "shared"
  if len(parts) > 1 or codec not in CODECS:
    raise config_lib.ConfigError(f"{FILE}: unknown arg {arg!r}; expected '[smoke,]codec' with codec one of "
                                 f"{', '.join(CODECS)}")
  return smoke, codec


def get_config(arg: str = ""):
  smoke, codec = _parse(arg)
  c = method.base_config()
  c.data.name = "cityscapes"
  c.data.data_dir = "/path/to/cityscapes"  # holds leftImg8bit/, gtFine/, disparity/
  c.data.batch_size = 4  # Table 1
  c.data.eval_batch_size = 4
  c.data.options.flip = True  # Table 1: random horizontal flip
  c.data.options.colour_jitter = 0.5  # Table 1: brightness, contrast, saturation 0.5, random order
  c.data.options.crop = None  # full images for codec training
  c.data.options.resize = None  # full resolution, 1024×2048
  c.data.options.num_workers = 6  # the authors' loader workers
  c.model.codec = codec
  c.model.transform = "conv"
  c.model.latent_channels = 192  # E
  c.model.channels = (24, 48, 192)
  c.model.num_blocks = 3
  c.loss.eta = 0.01
  c.loss.beta = 1.0
  c.loss.aux_weight = 1.0  # γ
  c.loss.aux_scaled_by_eta = False
  c.loss.recon_weight = 1.0  # Table 1: reconstruction loss weight
  c.loss.recon_scale = 255.0
  c.loss.code_images = 20  # validation images coded into real three-stream files
  c.tasks = gw_cityscapes.tasks_section()
  c.tasks.segmentation_weights = "runs/segmentation/task_weights.msgpack"
  c.tasks.depth_weights = "runs/depth/task_weights.msgpack"
  c.optim.lr.value = 1e-4
  c.optim.clip_norm = 1.0
  c.optim.accumulate_steps = 3  # Table 1: 3 accumulated batches of 4
  steps_per_epoch = TRAIN_IMAGES // c.data.batch_size
  c.num_steps = 1000 * steps_per_epoch  # at most 1,000 epochs
  c.eval_every = c.checkpoint.every = steps_per_epoch
  c.log_every = 50
  c.patience = 50
  c.eval_splits = ("validation",)
  c.monitor = "validation/rate_distortion"
  if smoke:
    c.data.data_dir = "/tmp/lossyless_jax_cityscapes_smoke"
    c.data.options.fake_tree = dict(train=8, val=4, height=64, width=128)
    c.data.options.num_workers = 0
    c.data.batch_size = c.data.eval_batch_size = 2
    c.model.latent_channels = 8
    c.model.channels = (8, 8, 16)
    c.model.num_blocks = 1
    c.tasks.tiny = True
    c.tasks.random_init = True
    c.tasks.segmentation_weights = c.tasks.depth_weights = ""
    c.optim.accumulate_steps = 1
    c.loss.code_images = 2
    c.num_steps = 4
    c.eval_every = c.checkpoint.every = 2
    c.log_every = 2
    c.patience = 0
  return c


def get_sweep(arg: str = ""):
  """Table 7: η per codec (β = 1)."""
  _, codec = _parse(arg)
  return [{"model.codec": codec, "loss.eta": e} for e in ETAS.get(codec, ETAS["shared"])]
