"""humanparse: human parsing and pose estimation in pure PyTorch."""

__version__ = "0.1.0"
