"""Whether the device a command asks for is there: checked before any work, one clear line if not.

``resolve_device`` checks a torch device string (``predict --device``, ``evaluate --device``);
``check_accelerator`` checks a config's ``train.accelerator`` and ``train.devices`` the same way,
before Lightning builds anything.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import torch

from .errors import ConfigError, UsageError


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def _gpus() -> str:
    count = torch.cuda.device_count()
    return f"{count} CUDA GPU{'s' if count != 1 else ''} (index {'0' if count == 1 else f'0-{count - 1}'})"


def resolve_device(device: str | torch.device) -> torch.device:
    """A torch device, with a clear error when CUDA (or a CUDA index, or MPS) is asked for but absent."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise UsageError(f"unknown device {device!r}: {e}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {str(device)!r} asked for, but no CUDA GPU is available (use --device cpu)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise UsageError(f"device {str(device)!r} asked for, but this machine has {_gpus()}")
    if dev.type == "mps" and not _mps_available():
        raise UsageError(f"device {str(device)!r} asked for, but no Apple MPS device is available (use --device cpu)")
    return dev


def _resolved_accelerator(accelerator: str) -> str:
    """The accelerator Lightning's ``auto`` picks (CUDA, then MPS, then the CPU); ``gpu`` is CUDA
    (Lightning's choice when both could be meant)."""
    if accelerator == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu"
    return "cuda" if accelerator == "gpu" else accelerator


def check_accelerator(train: dict[str, Any]) -> None:
    """A :class:`ConfigError` naming the key unless ``train.accelerator`` is on this machine and
    ``train.devices`` asks for no more of it than there is (the values' forms are config.RULES')."""
    asked, devices = str(train["accelerator"]), train["devices"]
    accelerator = _resolved_accelerator(asked)
    fallback = "use train.accelerator=cpu"
    if accelerator == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.accelerator={asked} asked for, but no CUDA GPU is available ({fallback})")
    if accelerator == "mps" and not _mps_available():
        raise ConfigError(f"train.accelerator={asked} asked for, but no Apple MPS device is available ({fallback})")
    if accelerator == "tpu" and importlib.util.find_spec("torch_xla") is None:
        raise ConfigError(f"train.accelerator={asked} asked for, but no TPU is available (torch_xla is not "
                          f"installed; {fallback})")
    if devices == "auto":
        return
    if accelerator == "cpu":
        if not (isinstance(devices, int) and devices >= 1):
            raise ConfigError(f"train.devices={devices!r}: on the CPU, train.devices is a number of processes (>= 1)")
    elif accelerator == "cuda":
        count = torch.cuda.device_count()
        if isinstance(devices, list):
            missing = [i for i in devices if i >= count]
            if missing:
                raise ConfigError(f"train.devices={devices!r}: GPU index {missing[0]} asked for, but this machine "
                                  f"has {_gpus()}")
        elif devices > count:
            raise ConfigError(f"train.devices={devices!r}: {devices} GPUs asked for, but this machine has {_gpus()}")
    elif accelerator == "mps" and devices not in (1, [0], -1):
        raise ConfigError(f"train.devices={devices!r}: there is one Apple MPS device")


__all__ = ["check_accelerator", "resolve_device"]
