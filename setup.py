"""qsnnsim: a cycle-accurate simulator of a neuromorphic core array running Q-SNNs."""

from setuptools import find_packages, setup

setup(
    name="qsnnsim",
    version="0.1.0",
    description="Cycle-accurate simulator of quantized spiking neural networks on a neuromorphic core array",
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["qsnnsim", "qsnnsim.*"]),
    install_requires=[
        "numpy>=1.24",
        "numba>=0.59",
        "simpy>=4.0",
        "matplotlib>=3.7",
        "pyyaml>=6.0",
    ],
    extras_require={
        "train": ["torch>=2.1", "scikit-learn>=1.2"],
        "test": ["pytest>=7", "hypothesis>=6.80", "scikit-learn>=1.2"],
    },
    entry_points={"console_scripts": ["qsnnsim=qsnnsim.cli:main"]},
)
