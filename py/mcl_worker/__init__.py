"""PyTorch worker of the MCL bridge."""

__version__ = "0.1.0"
