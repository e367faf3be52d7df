"""COMMAND: python launch/main.py --config=configs/gray_wyner_digits.py:dependent,shared

Learnable Gray-Wyner network on coloured digits (Gray-Wyner paper §4.2, App. D.4, Table 6): a digit
image tinted with a colour drawn from a joint (digit, colour) PMF; task 1 predicts the digit, task
2 the colour (cross-entropy, MLP heads trained jointly), E = 6 (3 + 3 channels at 2×2 for 32×32
inputs), β = 1/10, w_aux = η (the authors' code), w_rec = 0. Arg: ``pmf,codec`` (pmf dependent |
independent | mixture; codec shared | separated | combined | independent | joint), optionally
``,paper``. Rates are reported in bits per pixel and in bits per image (Table 6's unit).

CPU defaults: scikit-learn's 8×8 digits (1,257 train / 180 validation / 360 test, upsampled to
32×32) instead of MNIST (``:…,paper`` reads ``tfds:mnist``, prepared by the user), analysis widths
(8, 16, 32) with one ResBlock per stack (paper: (24, 48, 192), three), batch 100,
1,500 steps at lr 1e-3 (paper: lr 1e-4, at most 200 epochs, patience 25), MLP heads of width 512
(paper 3072 = 3·32·32), validation every 150 steps, η = 10, ramped up from 0 over the first 300
steps (``loss.eta_warmup_steps``; paper: constant η). At initialisation every latent rounds to 0, and
with the full η from the first step the rate term can keep them there: without the ramp both tasks
stayed at chance on an AMD EPYC CPU. A larger η needs a longer ramp. `get_sweep(arg)` gives Table 6's η
for the PMF (Dependent {1, 10, 25, 50, 75, 100}, Independent {1, 10, 25, 50}, Mixture
{1, 10, 25, 100}; Mixture with the Independent codec {1, 10, 25, 50, 75}).
"""
from lossyless_jax import config as config_lib
from lossyless_jax.methods.gray_wyner import method

PMFS = ("dependent", "independent", "mixture")
CODECS = ("shared", "separated", "combined", "independent", "joint")
ETAS = {"dependent": (1.0, 10.0, 25.0, 50.0, 75.0, 100.0), "independent": (1.0, 10.0, 25.0, 50.0),
        "mixture": (1.0, 10.0, 25.0, 100.0)}
ETAS_MIXTURE_INDEPENDENT_CODEC = (1.0, 10.0, 25.0, 50.0, 75.0)
FILE = "configs/gray_wyner_digits.py"


def _parse(arg: str):
  parts = arg.split(",") if arg else ["dependent", "shared"]
  paper = parts[-1] == "paper"
  if paper:
    parts = parts[:-1]
  if len(parts) == 1:
    parts.append("shared")
  if len(parts) != 2 or parts[0] not in PMFS or parts[1] not in CODECS:
    raise config_lib.ConfigError(f"{FILE}: unknown arg {arg!r}; expected 'pmf,codec[,paper]' with pmf one of "
                                 f"{', '.join(PMFS)} and codec one of {', '.join(CODECS)}")
  return parts[0], parts[1], paper


def get_config(arg: str = ""):
  pmf, codec, paper = _parse(arg)
  c = method.base_config()
  c.data.name = "coloured_digits"
  c.data.options.pmf = pmf
  c.data.options.source = "tfds:mnist" if paper else "digits"
  c.data.image_size = 32  # §4.2: bicubic resize to 32×32
  c.data.batch_size = 100  # Table 1
  c.model.codec = codec
  c.model.transform = "conv"
  c.model.latent_channels = 6  # E (Table 1)
  c.model.channels = (24, 48, 192) if paper else (8, 16, 32)  # paper: 24, 48, 192
  c.model.num_blocks = 3 if paper else 1  # paper: 3 ResBlocks per stack
  c.loss.eta = 10.0
  c.loss.beta = 0.1  # App. D.4
  c.loss.aux_weight = 1.0
  c.loss.aux_scaled_by_eta = True  # the authors' coloured-digits code: w_aux = η
  c.loss.recon_weight = 0.0
  if paper:  # Table 1: lr 1e-4, clip 1, at most 200 epochs, patience 25; heads of width 3072
    c.data.eval_batch_size = 1000
    c.model.head_hidden = None
    c.optim.lr.value = 1e-4
    c.num_steps = 200 * 500  # 50,000 train images / 100 per batch
    c.eval_every = c.checkpoint.every = 500
    c.log_every = 100
    c.patience = 25
    c.loss.eta_warmup_steps = 0  # §3.2: η is constant
  else:
    c.data.eval_batch_size = 360
    c.model.head_hidden = 512
    c.optim.lr.value = 1e-3
    c.num_steps = 1500
    c.eval_every = c.checkpoint.every = 150
    c.log_every = 50
    c.loss.eta_warmup_steps = 300  # the latents leave 0 before the rate term weighs in
  return c


def get_sweep(arg: str = ""):
  """Table 6's η for the arg's PMF (β = 1/10 throughout)."""
  pmf, codec, _ = _parse(arg)
  etas = ETAS_MIXTURE_INDEPENDENT_CODEC if (pmf == "mixture" and codec == "independent") else ETAS[pmf]
  return [{"model.codec": codec, "loss.eta": e} for e in etas]
