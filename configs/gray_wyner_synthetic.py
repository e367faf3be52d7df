"""COMMAND: python launch/main.py --config=configs/gray_wyner_synthetic.py:shared,1.5

Learnable Gray-Wyner network on the synthetic discrete source (Gray-Wyner paper §4.1, App. D.3): two
9-symbol channels X1, X2 whose elements are near-copies in pairs (H(X1, X2) = 3.3, I(X1; X2) =
1.32 bits per location at 64×64), two linear-regression tasks Z_i = A_i vec(X_i) with RMSE
distortion, pixel-shuffle transforms (E = 512 for M = 2, one ResBlock per stack), w_aux = 1,
w_rec = 0. Arg: ``codec,beta`` (codec shared | separated | combined | independent | joint; β in
[1, 2] is ignored by Independent and Joint), optionally ``,paper`` for the paper's protocol.

CPU defaults (about 4 minutes on 2 cores): a 16×16 source (latent 1×1×512, so the context
models see no spatial context; paper 64×64, latent 4×4 — at 32×32 a step of the three 256-channel
context models takes about 3 s on this CPU), batch 32 (paper 100), 600 steps at lr 1e-3 (paper:
1,000 steps per epoch, at most 100 epochs, patience 10, lr 1e-4), validation on 400 samples every
200 steps (paper 100 batches per epoch), η = 0.1. ``:…,paper`` sets the paper's numbers. `get_sweep(arg)` gives Tables 3–5's grid,
η ∈ {0.001, 0.01, 0.1, 0.5, 1}, × β ∈ {1, 3/2, 2} for the Gray-Wyner codecs.
"""
from lossyless_jax import config as config_lib
from lossyless_jax.methods.gray_wyner import method

CODECS = ("shared", "separated", "combined", "independent", "joint")
ETAS = (0.001, 0.01, 0.1, 0.5, 1.0)  # Tables 2–5
BETAS = (1.0, 1.5, 2.0)  # Tables 3, 4, 5
FILE = "configs/gray_wyner_synthetic.py"


def _parse(arg: str):
  parts = [p for p in arg.split(",")] if arg else ["shared", "1.5"]
  paper = parts[-1] == "paper"
  if paper:
    parts = parts[:-1]
  if len(parts) == 1:
    parts.append("1.5")
  if len(parts) != 2 or parts[0] not in CODECS:
    raise config_lib.ConfigError(f"{FILE}: unknown arg {arg!r}; expected 'codec,beta[,paper]' with codec one of "
                                 f"{', '.join(CODECS)}, e.g. 'shared,1.5'")
  try:
    beta = float(parts[1])
  except ValueError:
    raise config_lib.ConfigError(f"{FILE}: arg {arg!r}: beta {parts[1]!r} is not a number") from None
  return parts[0], beta, paper


def get_config(arg: str = ""):
  codec, beta, paper = _parse(arg)
  c = method.base_config()
  c.data.name = "gray_wyner_synthetic"
  c.data.options.side = 64 if paper else 16  # paper: 2×64×64
  c.data.options.eval_size = 10_000 if paper else 400  # paper: 100 validation batches of 100
  c.model.codec = codec
  c.model.transform = "pixel_shuffle"
  c.model.latent_channels = 512  # E = 256·M, M = 2 (Table 1)
  c.model.num_blocks = 1  # one ResBlock per stack (the authors' code, App. D.3)
  c.loss.eta = 0.1
  c.loss.beta = beta
  c.loss.aux_weight = 1.0  # γ (Table 1)
  c.loss.recon_weight = 0.0  # Table 1
  c.loss.code_images = 100
  if paper:  # Table 1: batch 100, lr 1e-4, clip 1; 1,000 steps per epoch, 100 epochs, patience 10
    c.data.batch_size = c.data.eval_batch_size = 100
    c.optim.lr.value = 1e-4
    c.num_steps = 100 * 1000
    c.eval_every = c.checkpoint.every = 1000
    c.log_every = 100
    c.patience = 10
    c.loss.code_images = 1000
  else:
    c.data.batch_size = 32
    c.data.eval_batch_size = 200
    c.optim.lr.value = 1e-3
    c.num_steps = 600
    c.eval_every = c.checkpoint.every = 200
    c.log_every = 100
  return c


def get_sweep(arg: str = ""):
  """Tables 2–5: one run per η, for the arg's codec; β ∈ {1, 3/2, 2} for the Gray-Wyner codecs
  (Independent and Joint have no β)."""
  codec, _, _ = _parse(arg)
  betas = BETAS if codec in ("shared", "separated", "combined") else (1.0,)
  return [{"model.codec": codec, "loss.beta": b, "loss.eta": e} for b in betas for e in ETAS]
