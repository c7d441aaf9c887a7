"""What keeps a GPU busy, checked without one: the training step never reads a value back to
the host, the training loop reads back only when it reports, and every model and loss traces
into one graph for torch.compile."""

from __future__ import annotations

import pytest
import torch
import torch._dynamo as dynamo
from lightning.pytorch.callbacks import Callback
from torch.utils._python_dispatch import TorchDispatchMode

from helpers import CONFIGS, metrics_rows
from humanparse.config import load_config
from humanparse.data.sample import VISIBLE
from humanparse.data.synth import write_synthetic_dataset
from humanparse.engine.data import HumanDataModule
from humanparse.engine.task import HumanTask
from humanparse.engine.train import complete_spec, init_from_weights, run_train
from humanparse.inference.model_file import load_model
from humanparse.schemas import LIP_JOINTS, get_label_schema

# One shipped config per model and loss: DeepLab, Attention-to-scale, JPPNet (parsing and
# pose), SS-JPPNet (structure-sensitive loss), SS-NAN (per-output loss), JPPNet's pose branch,
# the pose-only baseline.
SYNTH_CONFIGS = [
    "deeplab_resnet18", "attention_to_scale_resnet18", "jppnet_resnet18", "ss_jppnet_resnet18",
    "ss_nan_resnet18", "pose_net_resnet18", "resnet_pose_resnet18",
]


def task_of(name: str, *overrides: str) -> tuple[HumanTask, dict]:
    # The last phase's terms from the first step (outside a trainer the epoch is 0), so that
    # the structure-sensitive loss's step is the one checked.
    config = load_config(CONFIGS / "synth" / f"{name}.yaml", overrides)
    config["loss"] = [{**entry, "start_epoch": 0} for entry in config["loss"] if entry.get("stop_epoch") is None]
    schema = get_label_schema("lip")
    spec = {**complete_spec(config["model"], schema, LIP_JOINTS), "pretrained": None}
    task = HumanTask(spec, schema.to_dict(), tuple(config["data"]["input_size"]), config["train"],
                       joint_schema=LIP_JOINTS.to_dict(), loss=config["loss"])
    return task, config


def batch_on(device: str, size: tuple[int, int], batch_size: int = 2) -> dict[str, torch.Tensor]:
    """A batch as the task sees it on the device: every joint visible at (0, 0), label 0."""
    keypoints = torch.zeros(batch_size, LIP_JOINTS.num_joints, 3, device=device)
    keypoints[..., 2] = VISIBLE
    return {
        "image": torch.zeros(batch_size, 3, *size, dtype=torch.uint8, device=device),
        "label": torch.zeros(batch_size, *size, dtype=torch.long, device=device),
        "keypoints": keypoints,
    }


@pytest.mark.parametrize(
    ("name", "optimizer"), [(name, "sgd") for name in SYNTH_CONFIGS] + [("ss_nan_resnet18", "adamw")]
)
def test_training_step_reads_nothing_back(name, optimizer):
    """On the meta device tensors have shapes but no values: ``.item()``, ``.cpu()``, boolean
    masks, ``nonzero`` and ``unique`` all raise there. A whole step (forward in channels-last,
    loss, backward, optimizer) that runs on it issues no host sync on a GPU."""
    task, config = task_of(name, f"train.optimizer={optimizer}")
    if name.startswith("ss_"):
        assert [term.type for term in task.active_terms()] == ["structure_sensitive"]
    task.to("meta")
    task.use_channels_last()
    task.train()
    if optimizer == "sgd":
        opt = torch.optim.SGD(task.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
    else:
        opt = torch.optim.AdamW(task.parameters(), lr=1e-3, weight_decay=1e-4)
    batch = batch_on("meta", tuple(config["data"]["input_size"]))
    for _ in range(2):  # the second step uses the optimizer's state
        terms = task.compute_loss(task(batch["image"]), batch)
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        opt.step()
    assert terms["loss"].device.type == "meta" and terms["loss"].shape == ()
    assert all(p.grad is not None for p in task.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", SYNTH_CONFIGS)
def test_bf16_autocast_step_matches_float32(name):
    """Under bf16 autocast (how training runs on a GPU: forward and loss inside it) every
    model's losses stay float32 and close to the float32 step's, with finite gradients."""
    task, _ = task_of(name, "model.base_width=8")
    task.train()
    torch.manual_seed(0)
    batch = batch_on("cpu", (64, 64))
    batch["label"] = torch.randint(0, task.schema.num_classes, (2, 64, 64))
    batch["keypoints"][..., :2] = torch.rand(2, LIP_JOINTS.num_joints, 2) * 63
    batch["image"] = torch.randint(0, 256, batch["image"].shape, dtype=torch.uint8)
    losses = {}
    for bf16 in (False, True):
        torch.manual_seed(1)  # the same dropout masks
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            terms = task.compute_loss(task(batch["image"]), batch)
        task.zero_grad()
        terms["loss"].backward()
        assert all(torch.isfinite(p.grad).all() for p in task.parameters() if p.grad is not None)
        losses[bf16] = terms
    for key, reference in losses[False].items():
        assert losses[True][key].dtype == torch.float32 and torch.isfinite(losses[True][key])
        if "structure_factor" not in losses[False]:  # that factor compares argmaxes: bf16 may flip some
            torch.testing.assert_close(losses[True][key], reference, rtol=0.05, atol=1e-3, msg=key)


def test_meta_device_catches_host_reads():
    """The check above can fail: each way of reading a value back raises on the meta device."""
    x = torch.empty(4, device="meta")
    for read in (lambda: x.sum().item(), lambda: x[x > 0], lambda: x.cpu(), lambda: bool((x > 0).any()),
                 lambda: x.nonzero(), lambda: x.tolist()):
        with pytest.raises((RuntimeError, NotImplementedError)):
            read()


class _ValueReads(TorchDispatchMode):
    """Counts reads of a tensor's value into Python (``.item()``, ``float()``, ``bool()``)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            self.count += 1
        return func(*args, **(kwargs or {}))


class _ReadsPerStep(Callback):
    """Records, for each training step, how many values were read back during it (its
    forward, backward and optimizer step, then the loop's logging and progress bar)."""

    def __init__(self) -> None:
        self.mode = _ValueReads()
        self.active = False
        self.reads: list[int] = []
        self._before = 0

    def _stop(self) -> None:
        if self.active:
            self.reads.append(self.mode.count - self._before)
            self.mode.__exit__(None, None, None)
            self.active = False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._stop()
        self._before = self.mode.count
        self.mode.__enter__()
        self.active = True

    def on_validation_start(self, trainer, pl_module):
        self._stop()

    def on_train_epoch_end(self, trainer, pl_module):
        self._stop()


@pytest.mark.slow
def test_training_loop_reads_back_only_when_it_reports(tmp_path):
    """Lightning turns ``prog_bar`` values into Python numbers after every step; the loss is
    shown by a progress bar that reads it at its refresh (every log_every_n_steps / 2 steps)
    and the loggers read at log_every_n_steps, so most steps read no value into Python.
    (Copies to the host are invisible on a CPU; the step itself is checked for those on the
    meta device above.) The loader's worker persists through the validation between epochs."""
    root = tmp_path / "data"
    write_synthetic_dataset(root, 90, seed=3, size=(64, 64), val_fraction=0.1, clutter=0.0)
    config = load_config(None, [
        "model.name=deeplab", "model.backbone=resnet18", "model.base_width=8", "model.output_stride=16",
        "data.format=lip", f"data.root={root}", "data.input_size=[64, 64]", "data.batch_size=2",
        "data.num_workers=1", "train.optimizer=sgd", "train.accelerator=cpu", "train.devices=1",
        "train.max_epochs=2", "train.log_every_n_steps=10", f"train.out_dir={tmp_path / 'run'}",
    ])
    spy = _ReadsPerStep()
    run_train(config, progress=True, callbacks=[spy])  # the second epoch runs after a validation
    assert len(spy.reads) == 80
    reading = [i + 1 for i, n in enumerate(spy.reads) if n]
    assert reading, "the progress bar and the logs show the loss, so some steps must read it"
    assert all(step % 5 == 0 for step in reading), f"steps that read values back: {reading}"
    logged = [int(row["step"]) for row in metrics_rows(tmp_path / "run") if row.get("train/loss")]
    assert logged == list(range(9, 80, 10))


@pytest.mark.parametrize("name", SYNTH_CONFIGS)
def test_model_and_loss_trace_whole(name):
    """torch.compile captures the training forward and the loss each as one graph."""
    task, config = task_of(name)
    task.train()
    batch = batch_on("cpu", tuple(config["data"]["input_size"]))
    dynamo.reset()
    forward = dynamo.explain(task.model)(torch.randn(batch["image"].shape))
    output = task(batch["image"])
    loss = dynamo.explain(lambda out, b: task.compute_loss(out, b)["loss"])(output, batch)
    dynamo.reset()
    assert (forward.graph_count, forward.graph_break_count) == (1, 0), forward.break_reasons
    assert (loss.graph_count, loss.graph_break_count) == (1, 0), loss.break_reasons


@pytest.mark.slow
def test_compiled_training_keeps_parameter_names(small_synth_root, tmp_path, monkeypatch):
    """``train.compile=true`` compiles the model in place: checkpoints and the model file carry
    the plain parameter names, so they load without compilation. (The ``aot_eager`` backend
    traces forward and backward as inductor would, without generating code.)"""
    real, compiled = torch.nn.Module.compile, []

    def compile_cheaply(self, **options):
        compiled.append(self)
        real(self, backend="aot_eager", **options)

    monkeypatch.setattr(torch.nn.Module, "compile", compile_cheaply)
    out = tmp_path / "run"
    config = load_config(None, [
        "model.name=deeplab", "model.backbone=resnet18", "model.base_width=8", "model.output_stride=16",
        "data.format=lip", f"data.root={small_synth_root}", "data.input_size=[64, 64]", "data.batch_size=4",
        "data.num_workers=0", "train.optimizer=adamw", "train.accelerator=cpu", "train.devices=1",
        "train.max_epochs=1", "train.compile=true", f"train.out_dir={out}",
    ])
    summary = run_train(config, progress=False)
    assert len(compiled) == 1 and compiled[0]._compiled_call_impl is not None
    assert summary["global_step"] > 0 and summary["best_val_miou"] is not None
    checkpoint = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    weights = {key.removeprefix("model."): value for key, value in checkpoint["state_dict"].items()}
    saved = load_model(summary["model"])  # an uncompiled model
    saved.model.load_state_dict(weights)  # strict: the checkpoint's names are the plain ones

    # Checkpoints of runs compiled by wrapping (names under "model._orig_mod.") still load:
    # on resume (Lightning calls on_load_checkpoint first) and as init_from.
    wrapped = {key.replace("model.", "model._orig_mod.", 1): value for key, value in checkpoint["state_dict"].items()}
    task, _ = task_of("deeplab_resnet18", "model.base_width=8")
    old = {"state_dict": dict(wrapped)}
    task.on_load_checkpoint(old)
    task.load_state_dict(old["state_dict"])  # strict
    torch.save({"state_dict": wrapped}, tmp_path / "wrapped.ckpt")
    fresh, _ = task_of("deeplab_resnet18", "model.base_width=8")
    assert init_from_weights(fresh.model, tmp_path / "wrapped.ckpt") == (len(weights), 0)



def test_persistent_workers_give_the_same_batches(small_synth_root):
    """Loader workers live through the run; each epoch's batches still equal those of a loader
    without workers (augmentation comes from (seed, epoch, sample), not from worker state),
    and labels leave the loader as uint8 (the task's loss widens them on the device)."""

    def epochs(workers: int) -> list[list[dict]]:
        config = load_config(None, [f"data.root={small_synth_root}", "data.format=lip", "data.input_size=[64, 64]",
                                    "data.batch_size=4", f"data.num_workers={workers}"])
        datamodule = HumanDataModule(config["data"], seed=5)
        datamodule.setup("fit")
        loader = datamodule.train_dataloader()
        assert loader.persistent_workers == (workers > 0)
        seen = []
        for epoch in range(2):
            loader.sampler.set_epoch(epoch)  # as Lightning does at every epoch start
            seen.append(list(loader))
        return seen

    with_workers, without = epochs(2), epochs(0)
    for epoch in range(2):
        for a, b in zip(with_workers[epoch], without[epoch], strict=True):
            assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
    assert not torch.equal(without[0][0]["image"], without[1][0]["image"])  # epochs differ
    batch = without[0][0]
    assert batch["image"].dtype == batch["label"].dtype == torch.uint8
    task, _ = task_of("deeplab_resnet18", "model.base_width=8")
    output = task(batch["image"])
    from_bytes = task.compute_loss(output, batch)["loss"]
    torch.testing.assert_close(from_bytes, task.compute_loss(output, {**batch, "label": batch["label"].long()})["loss"])
