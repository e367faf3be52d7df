"""COMMAND: python launch/main.py --config=configs/cityscapes_segmentation_samplers.py:smoke

Stage 0 of the Gray-Wyner Cityscapes experiment, segmentation (Gray-Wyner paper §3.6, §4.3): the
two ×2 samplers around a frozen DeepLabV3+ (MobileNetV2, OS16) learn on uncompressed images; the
DeepLabV3+ itself stays frozen in inference mode. Arg: ``smoke`` (optional).

The authors' recipe: 768×768 random crops (taken before the flip and the jitter), horizontal flip,
colour jitter 0.5, batch 10 (validation 4, on the 500 full validation images), AdamW lr 1e-4 with
weight decay 0.01 (PyTorch's default, which the authors' code keeps), global-norm clip 1, loss
19·CE, patience 50 epochs, at most 1,000 epochs of 297 batches. Initialisation: VainF's
``deeplabv3plus_mobilenet_cityscapes_os16.pth`` converted by
``python tools/convert_torch_weights.py --kind deeplabv3plus_mobilenet --input deeplabv3plus_mobilenet_cityscapes_os16.pth --output segmentation_init.msgpack``
(samplers at their initialisation). The run's ``task_weights.msgpack`` is what
``configs/gray_wyner_cityscapes.py`` reads in ``tasks.segmentation_weights``.
"""
from lossyless_jax.methods import cityscapes_task

TRAIN_IMAGES = 2975


def get_config(arg: str = ""):
  from lossyless_jax import config as config_lib
  config_lib.check_arg(arg, ("", "smoke"), "configs/cityscapes_segmentation_samplers.py")
  c = cityscapes_task.base_config()
  c.model.task = "segmentation"
  c.tasks.init_weights = "segmentation_init.msgpack"
  c.data.data_dir = "/path/to/cityscapes"  # holds leftImg8bit/, gtFine/, disparity/
  c.data.batch_size = 10
  c.data.eval_batch_size = 4
  c.data.options.crop = (768, 768)
  c.data.options.flip = True
  c.data.options.colour_jitter = 0.5
  c.data.options.resize = None
  c.data.options.num_workers = 6
  c.optim.clip_norm = 1.0
  steps_per_epoch = TRAIN_IMAGES // c.data.batch_size
  c.num_steps = 1000 * steps_per_epoch
  c.eval_every = c.checkpoint.every = steps_per_epoch
  c.log_every = 50
  c.patience = 50
  if arg == "smoke":
    cityscapes_task.smoke(c)
    c.data.options.crop = (32, 64)
  return c
