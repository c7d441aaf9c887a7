"""``humanparse train``: a config in, checkpoints, logs and a self-describing model file out.

The run folder (``train.out_dir``) holds ``config.yaml`` (the resolved config),
``checkpoints/`` (``last.ckpt`` and the best by validation mIoU), ``logs/`` (CSV and
TensorBoard) and ``model/`` (the best weights as a model file for predict/evaluate/export).
"""

from __future__ import annotations

import inspect
import io
import sys
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Sequence

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ..config import dump_config
from ..devices import check_accelerator
from ..errors import ConfigError, DataError, UsageError
from ..io import atomic_file, check_writable_dir, check_writable_file, local_path, write_text_atomically
from ..models import MODELS
from ..inference.model_file import WEIGHTS_FILE, model_folder_problem, save_model
from ..nn.weights import read_torch_file
from ..schemas import JointSchema, LabelSchema, schema_tree_spec
from .data import HumanDataModule
from .task import HumanTask, plain_state_names, top_level_modules


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A training checkpoint, read with ``weights_only=True`` (tensors and plain containers:
    pickled code is refused, never run); a file that is not one is a :class:`DataError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "checkpoint does not exist")
    checkpoint = read_torch_file(path, "training checkpoint")
    if not isinstance(checkpoint, Mapping) or not isinstance(checkpoint.get("state_dict"), Mapping):
        raise DataError(path, "not a training checkpoint: it holds no 'state_dict'")
    return dict(checkpoint)


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint files, written whole or not at all and read without running code.

    A checkpoint is written to a temporary file beside its target and renamed onto it once
    complete, so a full disk leaves the earlier ``last.ckpt`` intact (and says so, naming the
    file) instead of a truncated one; checkpoints are read from local files only, with
    ``weights_only=True`` whatever Lightning asks for.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        # Serialised in memory first (as Lightning does): the disk is then written by Python, so a
        # full disk is an OSError, not an error from inside torch's archive writer.
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        with atomic_file(local_path(path, "checkpoint", ConfigError)) as tmp:
            with open(tmp, "wb") as f:
                f.write(buffer.getbuffer())

    def load_checkpoint(self, path: Any, map_location: Any | None = None, weights_only: bool | None = None) -> dict[str, Any]:
        # Read onto the CPU: Lightning moves the model's and optimiser's states to their device.
        # Not only training checkpoints come through here: a spawned DDP run hands its weights
        # back to the main process as a bare state dict.
        path = local_path(path, "checkpoint", ConfigError)
        if not Path(path).is_file():
            raise DataError(path, "checkpoint does not exist")
        return read_torch_file(path, "training checkpoint")


class ReseedEachStep(Callback):
    """Seeds torch's generator (dropout, ...) from (seed, epoch, batch, rank) before every batch.

    Augmentation and shuffling are already drawn from (seed, epoch, index); with this, what
    else draws from torch's generator (data-loader start-up, a resume's restore) cannot
    shift the model's randomness, and a resumed run continues exactly as the uninterrupted
    one would.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        batch_number = trainer.current_epoch * 1_000_003 + batch_idx
        torch.manual_seed(((self.seed * 1_000_003 + batch_number) * 7_919 + trainer.global_rank) % 2**63)


class LossProgressBar(TQDMProgressBar):
    """The TQDM bar, showing the training loss read from the device only when the bar redraws.

    Lightning turns every ``prog_bar=True`` value into a Python number after every step, which
    on a GPU is a host sync per step; the task logs its loss without ``prog_bar`` and this bar
    reads it at its own refresh rate. The version number (``v_num``) is left out.
    """

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        loss = trainer.callback_metrics.get("train/loss")
        return items if loss is None else {"train/loss": float(loss), **items}


def _on_cuda(train: dict[str, Any]) -> bool:
    accelerator = str(train["accelerator"])
    return torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda")


def resolve_precision(train: dict[str, Any]) -> str:
    """``auto``: bf16 autocast on a CUDA GPU that supports it, full float32 elsewhere."""
    precision = str(train["precision"])
    if precision != "auto":
        return precision
    if _on_cuda(train) and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def _loggers(out_dir: Path) -> list[Any]:
    # A numbered CSV folder per start: a resumed run must not overwrite the earlier metrics.
    loggers: list[Any] = [CSVLogger(out_dir / "logs", name="csv")]
    try:
        loggers.append(TensorBoardLogger(out_dir, name="logs", version="tensorboard", default_hp_metric=False))
    except ModuleNotFoundError:  # tensorboard is optional; CSV always works
        warnings.warn("tensorboard is not installed: logging to CSV only", stacklevel=2)
    return loggers


def build_trainer(
    config: dict[str, Any],
    fast_dev_run: bool = False,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
    monitor: str = "val/miou",
) -> L.Trainer:
    """The Lightning trainer of a config; the best checkpoint is the one maximising ``monitor``."""
    train = config["train"]
    out_dir = Path(train["out_dir"])
    checkpoints = out_dir / "checkpoints"
    all_callbacks: list[Any] = [
        ModelCheckpoint(
            dirpath=checkpoints, filename="best-{epoch:03d}-{step:06d}", monitor=monitor, mode="max",
            save_top_k=1, auto_insert_metric_name=False,
        ),
        # Lightning's save_last only writes when the best changes; resuming needs every epoch.
        ModelCheckpoint(
            dirpath=checkpoints, filename="last", monitor=None, save_top_k=1, save_on_train_epoch_end=True,
            enable_version_counter=False,
        ),
        LearningRateMonitor(logging_interval="step"),
        ReseedEachStep(train["seed"]),
        *callbacks,
    ]
    if progress:
        all_callbacks.append(LossProgressBar(refresh_rate=max(1, train["log_every_n_steps"] // 2)))
    return L.Trainer(
        default_root_dir=out_dir,
        max_epochs=train["max_epochs"],
        max_steps=train["max_steps"],
        max_time=train["max_time"],
        accelerator=train["accelerator"],
        devices=train["devices"],
        num_nodes=train["num_nodes"],
        strategy=train["strategy"],
        sync_batchnorm=train["sync_batchnorm"],
        precision=resolve_precision(train),
        accumulate_grad_batches=train["accumulate_grad_batches"],
        gradient_clip_val=train["gradient_clip_val"],
        check_val_every_n_epoch=train["val_every_n_epochs"],
        limit_val_batches=train["limit_val_batches"],
        log_every_n_steps=train["log_every_n_steps"],
        logger=_loggers(out_dir),
        callbacks=all_callbacks,
        plugins=[SafeCheckpointIO()],
        fast_dev_run=fast_dev_run,
        enable_progress_bar=progress,
        enable_model_summary=progress,
        use_distributed_sampler=False,  # ShardedSampler shards by rank itself
        deterministic=False,
        benchmark=True,  # every batch has the config's input size: cuDNN picks its fastest kernels once
        num_sanity_val_steps=0,
    )


def complete_spec(model: dict[str, Any], schema: LabelSchema | None, joint_schema: JointSchema | None) -> dict[str, Any]:
    """The config's model spec with ``num_classes`` / ``num_joints`` from the schemas, for the
    models that take them (a pose-only model has no classes, a parsing model no joints). Where
    a count is optional (it defaults to None: DeepLab's joints, PIL's classes), the spec asks
    for that output by any value but null (``num_joints: auto``) and the count still comes
    from the data; left out or null, the model is built without it."""
    spec = dict(model)
    try:
        parameters = inspect.signature(MODELS[spec["name"]]).parameters
    except KeyError:
        return spec  # build_model reports the unknown name
    counts = (
        ("num_classes", schema, "parses, but the training data has no parsing labels"),
        ("num_joints", joint_schema, "predicts joints, but the training data has no keypoints "
                                     "(a LIP-layout dataset needs its pose CSV, lip_train_set.csv)"),
    )
    for key, source, missing in counts:
        parameter = parameters.get(key)
        if parameter is None:
            continue
        if parameter.default is None and spec.get(key) is None:
            spec.pop(key, None)  # an optional output not asked for
            continue
        if source is None:
            raise ConfigError(f"model {spec['name']!r} {missing}")
        spec[key] = source.num_classes if key == "num_classes" else source.num_joints
    if "hierarchy" in parameters and spec.get("hierarchy") is None and schema is not None:
        spec["hierarchy"] = schema_tree_spec(schema)  # HIPN's tree: the data's own hierarchy
    return spec


def init_from_weights(model: torch.nn.Module, path: str | Path, modules: Sequence[str] = ()) -> tuple[int, int]:
    """Copy into ``model`` every weight of a model folder or training checkpoint whose name and
    shape match (fine-tuning, or a joint network started from a parsing network), only those
    of ``modules`` (dotted module names; empty: all) where given; returns (copied, left as
    initialised). Nothing matching is an error."""
    path = local_path(path, "train.init_from", ConfigError)
    if path.suffix == ".ckpt":
        state = read_checkpoint(path)["state_dict"]
        state = {k.removeprefix("model."): v for k, v in plain_state_names(state).items()}
    else:
        folder = path if path.is_dir() else path.parent
        from safetensors.torch import load_file

        weights = folder / WEIGHTS_FILE
        if not weights.is_file():
            raise DataError(path, "train.init_from must be a model folder or a .ckpt checkpoint")
        state = load_file(str(weights))
    own = model.state_dict()
    prefixes = tuple(f"{m.strip('.')}." for m in modules)
    unknown = [m for m, prefix in zip(modules, prefixes) if not any(k.startswith(prefix) for k in own)]
    if unknown:
        tops = top_level_modules(own)
        raise ConfigError(f"train.init_modules: {', '.join(unknown)} names no weights of the model (its top-level "
                          f"modules: {tops})")
    matching = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape and k.startswith(prefixes or "")}
    if not matching:
        raise DataError(path, "no weight matches the model by name and shape; nothing to start from")
    model.load_state_dict(matching, strict=False)
    return len(matching), len(own) - len(matching)


def build_task(config: dict[str, Any], datamodule: HumanDataModule) -> HumanTask:
    if config["eval"]["top_down"]:
        raise ConfigError("eval.top_down is for humanparse evaluate; validation during training scores whole images")
    datamodule.setup("fit")
    schema = datamodule.schema
    joint_schema = datamodule.joint_schema
    spec = complete_spec(config["model"], schema, joint_schema)
    task = HumanTask(
        spec, schema.to_dict() if schema is not None else None, tuple(config["data"]["input_size"]), config["train"],
        absent=config["eval"]["absent"], joint_schema=joint_schema.to_dict() if joint_schema is not None else None,
        loss=config["loss"],
    )
    datamodule.use_fill(task.preprocessing.fill)
    train = config["train"]
    if train["init_from"] and _resume_path(train) is None:  # a resumed run has its own weights
        copied, fresh = init_from_weights(task.model, train["init_from"], train["init_modules"])
        print(f"init_from {train['init_from']}: {copied} weights copied, {fresh} left as initialised", file=sys.stderr)
    use_channels_last = train["channels_last"] if train["channels_last"] != "auto" else _on_cuda(train)
    if use_channels_last:
        task.use_channels_last()
    if train["compile"]:
        # In place: the module keeps its parameter names, so checkpoints and the model file
        # are the same with and without compilation.
        task.model.compile()
    return task


def _resume_path(train: dict[str, Any]) -> str | None:
    """The checkpoint ``train.resume`` names, checked: one that is not there is a ConfigError
    (never a silent fresh start), a truncated or foreign file a DataError naming it."""
    resume = train["resume"]
    if resume is None:
        return None
    if resume == "last":
        path = Path(train["out_dir"]) / "checkpoints" / "last.ckpt"
        if not path.is_file():
            raise ConfigError(
                f"train.resume=last: {path} does not exist, so there is nothing to resume "
                "(leave train.resume unset to start afresh)"
            )
    else:
        path = local_path(resume, "train.resume", ConfigError)
        if not path.is_file():
            raise ConfigError(f"train.resume: checkpoint {path} does not exist")
    # torch.save writes a zip archive whose directory comes last: a cut-off file has none.
    if not zipfile.is_zipfile(path):
        raise DataError(path, "damaged checkpoint (truncated, or not written by torch.save); cannot resume from it")
    return str(path)


def export_model_file(task: HumanTask, config: dict[str, Any], out: Path, summary: dict[str, Any]) -> Path:
    model = task.model.to(memory_format=torch.contiguous_format)
    test_time = {"scales": list(config["eval"]["scales"]), "flip": bool(config["eval"]["flip"])}
    if config["eval"]["network_scales"] is not None:
        test_time["network_scales"] = list(config["eval"]["network_scales"])
    # The file holds all the weights: rebuilding it must not look for ImageNet weights again.
    spec = dict(task.hparams["model_spec"])
    if "pretrained" in spec:
        spec["pretrained"] = None
    return save_model(
        out, model, spec, task.schema, tuple(task.input_size),
        task.preprocessing.mean, task.preprocessing.std,
        extra={"training": summary, "test_time": test_time},
        joint_schema=task.joint_schema if task.poses else None,
    )


def check_outputs(train: dict[str, Any], fast_dev_run: bool = False) -> None:
    """A :class:`UsageError` naming the path unless everything a run writes into ``train.out_dir``
    can be written there: checked before the data is read or a step is taken."""
    out_dir = check_writable_dir(train["out_dir"], "train.out_dir")
    for folder in ("checkpoints", "logs"):
        check_writable_dir(out_dir / folder, "train.out_dir")
    check_writable_file(out_dir / "config.yaml", "train.out_dir")
    if not fast_dev_run:  # which writes no model file
        model = check_writable_dir(out_dir / "model", "train.out_dir")
        problem = model_folder_problem(model)
        if problem:
            raise UsageError(f"train.out_dir {model}: {problem} (the model file is written there)")


def run_train(
    config: dict[str, Any], fast_dev_run: bool = False, progress: bool = True, callbacks: Sequence[Callback] = ()
) -> dict[str, Any]:
    """Train as the config says; returns a summary (best mIoU, paths). ``callbacks`` are
    further Lightning callbacks (early stopping, custom logging, ...)."""
    train = config["train"]
    check_accelerator(train)
    check_outputs(train, fast_dev_run)
    L.seed_everything(train["seed"], workers=True, verbose=False)
    out_dir = Path(train["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomically(out_dir / "config.yaml", dump_config(config))
    datamodule = HumanDataModule(config["data"], seed=train["seed"])
    task = build_task(config, datamodule)
    trainer = build_trainer(config, fast_dev_run=fast_dev_run, progress=progress, callbacks=callbacks, monitor=task.monitor)
    trainer.fit(task, datamodule=datamodule, ckpt_path=_resume_path(train), weights_only=True)
    summary: dict[str, Any] = {"global_step": int(trainer.global_step), "epochs": int(trainer.current_epoch)}
    if fast_dev_run:
        return summary
    best, last = [cb for cb in trainer.callbacks if isinstance(cb, ModelCheckpoint)]
    best_path = best.best_model_path or last.best_model_path or ""
    best_score = best.best_model_score
    last_path = out_dir / "checkpoints" / "last.ckpt"
    if not trainer.global_step and last_path.is_file():
        # Under ddp_spawn this process only launched the workers: read what they saved.
        saved = read_checkpoint(last_path)
        summary.update(global_step=int(saved["global_step"]), epochs=int(saved["epoch"]) + 1)
        best_state = next((v for k, v in saved.get("callbacks", {}).items() if task.monitor in k), {})
        best_score = best_state.get("best_model_score", best_score)
    best_value = float(best_score) if best_score is not None else None
    summary.update(best_checkpoint=best_path, monitor=task.monitor)
    summary["best_val_miou" if task.monitor == "val/miou" else "best_val_pck"] = best_value
    if trainer.is_global_zero:
        if best_path:
            state = read_checkpoint(best_path)["state_dict"]
            task.load_state_dict(plain_state_names(state))
        summary["model"] = str(export_model_file(task, config, out_dir / "model", summary))
        print(f"model file: {summary['model']}", file=sys.stderr if not progress else sys.stdout)
    return summary


__all__ = ["LossProgressBar", "ReseedEachStep", "SafeCheckpointIO", "read_checkpoint", "build_task", "check_outputs", "complete_spec", "init_from_weights", "build_trainer", "export_model_file", "resolve_precision", "run_train"]
