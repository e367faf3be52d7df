"""COMMAND: python launch/main.py --config=configs/cityscapes_depth.py:smoke

Stage 0 of the Gray-Wyner Cityscapes experiment, depth (Gray-Wyner paper §3.6, §4.3): the whole
``UpSample(1) ∘ LRASPP ∘ DownSample(3)`` (MobileNetV3-Large, dilated C5) learns disparity on
uncompressed full-resolution images, its batch norm in training mode as in the authors' code.
Arg: ``smoke`` (optional).

The authors' recipe: full 1024×2048 images, horizontal flip, colour jitter 0.5, batch 10
(validation 5), AdamW lr 1e-4 with weight decay 0.01, no gradient clipping, loss 128·sqrt(masked
MSE) (the disparity RMSE in pixels), patience 200 epochs, at most 1,000 epochs of 297 batches.
Initialisation: torchvision's MobileNetV3-Large ImageNet weights (IMAGENET1K_V1, the builder's
default backbone), converted by
``python tools/convert_torch_weights.py --kind mobilenet_v3_large_imagenet --input mobilenet_v3_large-8738ca79.pth --output depth_init.msgpack``
(head and samplers at their initialisation). The run's ``task_weights.msgpack`` is what
``configs/gray_wyner_cityscapes.py`` reads in ``tasks.depth_weights``.
"""
from lossyless_jax.methods import cityscapes_task

TRAIN_IMAGES = 2975


def get_config(arg: str = ""):
  from lossyless_jax import config as config_lib
  config_lib.check_arg(arg, ("", "smoke"), "configs/cityscapes_depth.py")
  c = cityscapes_task.base_config()
  c.model.task = "depth"
  c.tasks.init_weights = "depth_init.msgpack"
  c.data.data_dir = "/path/to/cityscapes"  # holds leftImg8bit/, gtFine/, disparity/
  c.data.batch_size = 10
  c.data.eval_batch_size = 5
  c.data.options.crop = None
  c.data.options.flip = True
  c.data.options.colour_jitter = 0.5
  c.data.options.resize = None
  c.data.options.num_workers = 6
  c.optim.clip_norm = None  # the authors' depth script passes no clipping
  steps_per_epoch = TRAIN_IMAGES // c.data.batch_size
  c.num_steps = 1000 * steps_per_epoch
  c.eval_every = c.checkpoint.every = steps_per_epoch
  c.log_every = 50
  c.patience = 200
  if arg == "smoke":
    cityscapes_task.smoke(c)
  return c
