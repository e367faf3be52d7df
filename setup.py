"""lossyless_jax: task-oriented compression and rate-distortion estimation in JAX/Flax."""
import setuptools

setuptools.setup(
    name="lossyless_jax",
    version="0.1.0",
    description="Compression for the tasks that use the data, and how far any compressor is from R(D).",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=setuptools.find_packages(include=["lossyless_jax", "lossyless_jax.*"]),
    python_requires=">=3.11",  # grain (the Cityscapes loader) needs 3.11
    install_requires=[
        "jax>=0.7,<0.13",
        "flax>=0.10,<0.13",
        "optax>=0.2.4,<0.3",
        "orbax-checkpoint>=0.11,<0.13",
        "ml-collections>=1.0,<2",
        "chex>=0.1.89,<0.2",
        "dm-pix>=0.4.4,<0.5",
        "absl-py>=2.1",
        "numpy>=2.0",
        "tensorflow-cpu>=2.18,<2.22",
        "tensorflow-datasets>=4.9.7,<4.10",
        "grain>=0.2.18,<0.3",  # the resumable multi-worker Cityscapes loader
        "clu>=0.0.12",
        "tensorboard>=2.18,<2.22",
        "constriction>=0.5,<0.6",  # tables and files depend on its categorical models
        "pillow>=10",
        "scipy>=1.13",
        "scikit-learn>=1.5",
        "matplotlib>=3.9",
        "tqdm>=4.66",
    ],
    extras_require={
        "test": ["pytest>=8", "nbclient>=0.10", "nbformat>=5.10", "ipykernel>=6.29",
                 "pingouin>=0.7,<0.8",  # the Henze–Zirkler test is checked against pingouin
                 "submitit>=1.5.4,<1.6"],  # the SLURM executor's tests run submitit's local executor
        # weight converters (tools/convert_torch_weights.py) and the PyTorch parity tests
        "torch": ["torch>=2.14,<2.15", "torchvision>=0.29,<0.30"],
        # launch/sweep.py --executor=slurm (job arrays, requeue on pre-emption)
        "sweep": ["submitit>=1.5.4,<1.6"],
    },
)
