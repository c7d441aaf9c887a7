"""humanparse.engine.speed: a config's task timed on random batches."""

from __future__ import annotations

import torch

from humanparse.config import load_config
from humanparse.engine.speed import measure_speed, random_batch, task_from_config

TINY = [
    "model.name=jppnet", "model.backbone=resnet18", "model.base_width=8", "model.refine_stages=1",
    "data.input_size=[64, 48]",
]


def test_random_batch_fits_the_task() -> None:
    task = task_from_config(load_config(None, TINY), torch.device("cpu"))
    batch = random_batch(task, 2, torch.device("cpu"))
    assert batch["image"].dtype == torch.uint8 and batch["image"].shape == (2, 3, 64, 48)
    assert batch["label"].shape == (2, 64, 48) and int(batch["label"].max()) < task.schema.num_classes
    assert batch["keypoints"].shape == (2, 1, task.joint_schema.num_joints, 3)
    assert bool((batch["keypoints"][..., 0] <= 47).all() and (batch["keypoints"][..., 1] <= 63).all())
    assert torch.equal(batch["image"], random_batch(task, 2, torch.device("cpu"))["image"])  # seeded


def test_measure_speed_times_a_training_step_and_inference() -> None:
    speed = measure_speed(load_config(None, TINY), torch.device("cpu"), batch_size=1, steps=1)
    assert set(speed) == {"train_images_per_s", "infer_images_per_s", "warmup_s"}
    assert all(value > 0 for value in speed.values())


def test_a_model_with_an_extra_input_is_timed_with_a_random_map_of_it() -> None:
    config = load_config(None, [
        "model={name: wshp_refiner, depth: 3, base_width: 4, prior: parts}", "data.input_size=[32, 32]",
        "data.priors={k: 1, n: 1}",
    ])
    task = task_from_config(config, torch.device("cpu"))
    batch = random_batch(task, 2, torch.device("cpu"))
    assert batch["maps"]["prior"].shape == (2, task.schema.num_classes, 32, 32)
    speed = measure_speed(config, torch.device("cpu"), batch_size=1, steps=1)
    assert speed["train_images_per_s"] > 0 and speed["infer_images_per_s"] > 0
