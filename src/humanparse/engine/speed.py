"""Training and inference speed of a config's task, on random batches of its input size.

The training step is the engine's (uint8 images normalised on the device, the config's loss
list, SGD); on CUDA the task is set up as training sets it up (channels-last, cuDNN benchmark,
TF32 matrix products). Timings are taken after warm-up steps (which include any compilation;
their seconds are reported) with one device synchronisation per timed block, never inside a step.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import torch

from ..data.readers import get_format
from ..data.sample import VISIBLE
from ..models import extra_inputs_of
from ..schemas import LIP_JOINTS, get_label_schema
from .task import HumanTask
from .train import complete_spec


def task_from_config(config: dict[str, Any], device: torch.device, compile_model: bool = False) -> HumanTask:
    """The untrained task of a config, without its data: the label schema is ``data.schema`` or the
    format's own, the joints are LIP's, and no pretrained weights are read."""
    data = config["data"]
    schema = get_label_schema(data["schema"] or get_format(data["format"]).default_schema)
    spec = complete_spec(config["model"], schema, LIP_JOINTS)
    if "pretrained" in spec:  # timing needs no weights
        spec["pretrained"] = None
    task = HumanTask(
        spec, schema.to_dict(), tuple(data["input_size"]), config["train"], joint_schema=LIP_JOINTS.to_dict(),
        loss=config["loss"],
    )
    task.to(device)
    if device.type == "cuda":  # as training sets it up on a GPU
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
        task.use_channels_last()
    if compile_model:
        task.model.compile()
    return task


def random_batch(task: HumanTask, batch_size: int, device: torch.device, seed: int = 0) -> dict[str, torch.Tensor]:
    """A batch of random uint8 images, labels of the task's classes, visible joints inside the image
    and, under ``maps``, a random map for each extra input the model takes (a WSHP prior, ...)."""
    assert task.schema is not None
    height, width = task.input_size
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (batch_size, 3, height, width), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, task.schema.num_classes, (batch_size, height, width), generator=generator)
    num_joints = task.joint_schema.num_joints if task.joint_schema is not None else 0
    xy = torch.rand(batch_size, 1, num_joints, 2, generator=generator) * torch.tensor([width - 1, height - 1])
    keypoints = torch.cat([xy, torch.full_like(xy[..., :1], float(VISIBLE))], dim=-1)
    maps = {name: torch.rand(batch_size, spec.channels, height, width, generator=generator).to(device)
            for name, spec in extra_inputs_of(task.model).items()}
    return {"image": images.to(device), "label": labels.to(device), "keypoints": keypoints.to(device), "maps": maps}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(
    step: Callable[[], None], device: torch.device, steps: int, warmup: int, batch_size: int
) -> tuple[float, float]:
    start = time.perf_counter()
    for _ in range(warmup):
        step()
    _sync(device)
    warmed = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return steps * batch_size / (time.perf_counter() - warmed), warmed - start


def time_training(
    task: HumanTask, batch: dict[str, torch.Tensor], steps: int, warmup: int = 1, bf16: bool = False
) -> tuple[float, float]:
    """Images/s over the timed training steps, and the seconds the warm-up steps took."""
    device = batch["image"].device
    optimizer = torch.optim.SGD(task.parameters(), lr=1e-4, momentum=0.9)
    task.train()

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            output = task(batch["image"], **task.model_inputs(batch))
        loss = task.compute_loss(output, batch)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return _timed(step, device, steps, warmup, batch["image"].shape[0])


@torch.inference_mode()
def time_inference(
    task: HumanTask, batch: dict[str, torch.Tensor], steps: int, warmup: int = 1, bf16: bool = False
) -> tuple[float, float]:
    """As :func:`time_training`, for the forward pass in evaluation mode."""
    task.eval()
    device = batch["image"].device
    inputs = task.model_inputs(batch)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            task(batch["image"], **inputs)

    return _timed(step, device, steps, warmup, batch["image"].shape[0])


def measure_speed(
    config: dict[str, Any], device: torch.device, batch_size: int, steps: int, warmup: int = 1,
    bf16: bool = False, compile_model: bool = False,
) -> dict[str, float]:
    """Training and inference images/s of a config's task, and the seconds of all warm-up steps."""
    task = task_from_config(config, device, compile_model)
    batch = random_batch(task, batch_size, device)
    train_ips, train_warmup = time_training(task, batch, steps, warmup, bf16)
    infer_ips, infer_warmup = time_inference(task, batch, steps, warmup, bf16)
    return {"train_images_per_s": train_ips, "infer_images_per_s": infer_ips, "warmup_s": train_warmup + infer_warmup}


__all__ = ["measure_speed", "random_batch", "task_from_config", "time_inference", "time_training"]
