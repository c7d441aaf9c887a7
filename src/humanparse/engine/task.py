"""The Lightning task: wires a parsing and/or pose model, its losses and the official-protocol metrics."""

from __future__ import annotations

from typing import Any, Iterable

import lightning as L
import torch

from ..errors import ConfigError
from ..evaluation.parsing_metrics import ConfusionMatrix
from ..evaluation.pose_metrics import PCKAccumulator
from ..inference.predictor import View, decode_maps, heatmap_stride_of, original_views, output_maps
from ..losses import LossContext, LossTerm, build_losses
from ..models import ModelOutput, build_model, extra_inputs_of, predicts_joints, predicts_parsing
from ..nn.batchnorm import batchnorm_layers, freeze_batchnorm
from ..nn.backbones import backbone_preprocessing
from ..preprocessing import Preprocessing
from ..schemas import IGNORE_INDEX, JointSchema, LabelSchema, joint_schema_from_dict, label_schema_from_dict


def poly_factor(step: int, total: int, power: float, warmup: int = 0) -> float:
    """The papers' "poly" schedule, lr * (1 - step/total)^power, after an optional linear warm-up."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    total = max(1, total)
    return max(0.0, 1.0 - min(step, total) / total) ** power


def plain_state_names(state: dict[str, Any]) -> dict[str, Any]:
    """A state dict's names without the ``_orig_mod.`` that a ``torch.compile`` wrapper adds
    (checkpoints of runs compiled that way load into a plain or in-place compiled model)."""
    return {key.replace("_orig_mod.", ""): value for key, value in state.items()}


def top_level_modules(names: Iterable[str]) -> str:
    """The top-level module names among dotted parameter, buffer or module names, for the
    errors that say which modules a model has."""
    return ", ".join(sorted({n.split(".")[0] for n in names}))


class HumanTask(L.LightningModule):
    """Training and validation of a parsing model, a pose model, or a joint parsing + pose model.

    The loss is the weighted sum of the terms of the config's ``loss:`` list that are on in the
    current epoch (:func:`humanparse.losses.build_losses`; by default cross-entropy for a model
    that parses and the heatmap loss for one that predicts joints). Parsing is scored by mIoU,
    joints by PCK under the joint schema's rule.

    Batches hold uint8 images and labels; images are normalised and labels widened to int64
    on the model's device (so loaders move bytes, not floats). Validation turns the network's
    maps into predictions at each image's original resolution by the predictor's own steps
    (:mod:`humanparse.inference.predictor`) and scores them there against the original label
    and keypoints, as the official protocols do and as ``humanparse evaluate`` does.
    """

    def __init__(
        self,
        model_spec: dict[str, Any],
        label_schema: dict[str, Any] | None,
        input_size: tuple[int, int],
        train: dict[str, Any],
        absent: str = "skip",
        mean: tuple[float, float, float] | None = None,
        std: tuple[float, float, float] | None = None,
        joint_schema: dict[str, Any] | None = None,
        loss: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.schema: LabelSchema | None = label_schema_from_dict(label_schema) if label_schema else None
        self.joint_schema: JointSchema | None = joint_schema_from_dict(joint_schema) if joint_schema else None
        self.model = build_model(model_spec)
        self.parses = predicts_parsing(self.model)
        self.poses = predicts_joints(self.model)
        name = model_spec.get("name")
        if self.parses and self.schema is None:
            raise ConfigError(f"model {name!r} parses, but the data has no label schema (use a dataset with labels)")
        if self.poses and self.joint_schema is None:
            raise ConfigError(
                f"model {name!r} predicts joints, but the data has no joint schema "
                "(use a dataset with keypoints, e.g. LIP with its pose CSV)"
            )
        context = LossContext(self.schema, self.joint_schema, int(getattr(self.model, "output_stride", 1)))
        # A config without a loss list trains with the model's own terms where it names them (HIPN's).
        entries = loss if loss is not None else getattr(self.model, "default_loss", None)
        self.loss_terms: list[LossTerm] = build_losses(entries, context, self.parses, self.poses)
        # A module list, so that the losses' buffers follow the task to its device.
        self.losses = torch.nn.ModuleList(term.loss for term in self.loss_terms)
        self.train_options = train
        self.input_size = tuple(input_size)
        self.absent = absent
        # By default the backbone's own input normalisation (ImageNet's mean and std for most).
        default = backbone_preprocessing(self.model)
        self.preprocessing = Preprocessing(
            default.mean if mean is None else tuple(mean),  # type: ignore[arg-type]
            default.std if std is None else tuple(std),  # type: ignore[arg-type]
        )
        self.frozen_modules = self._freeze_modules(train.get("freeze_modules") or [])
        self.channels_last = False
        self.val_matrix = ConfusionMatrix(self.schema.num_classes if self.schema else 1, IGNORE_INDEX)
        self.val_pck = PCKAccumulator(self.joint_schema) if self.joint_schema is not None else None

    def _freeze_modules(self, names: list[str]) -> list[torch.nn.Module]:
        """The model's submodules that ``train.freeze_modules`` names, their parameters untrained
        (they stay in eval mode too: see :meth:`train`)."""
        modules = []
        for name in names:
            try:
                module = self.model.get_submodule(name.strip("."))
            except AttributeError:
                tops = top_level_modules(n for n, _ in self.model.named_children())
                raise ConfigError(f"train.freeze_modules: {name!r} names no module of the model "
                                  f"(its top-level modules: {tops})") from None
            module.requires_grad_(False)
            modules.append(module)
        if modules and not any(p.requires_grad for p in self.model.parameters()):
            raise ConfigError("train.freeze_modules freezes every parameter of the model: nothing is left to train")
        return modules

    def use_channels_last(self) -> None:
        """Channels-last weights and inputs from now on (faster convolutions on a GPU)."""
        self.channels_last = True
        self.model.to(memory_format=torch.channels_last)

    def on_fit_start(self) -> None:
        # Here rather than at set-up: each process (spawned ones included) sets it for itself.
        if self.device.type == "cuda":
            torch.set_float32_matmul_precision("high")  # TF32 matrix products (cuDNN convolutions already use it)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["state_dict"] = plain_state_names(checkpoint["state_dict"])

    @property
    def monitor(self) -> str:
        """The validation score that picks the best checkpoint: mIoU, or PCK for a pose-only
        model, one whose parsing only helps its joints (PIL) or one whose loss trains only its
        joints (a joint head on a frozen parser)."""
        if getattr(self.model, "parsing_is_auxiliary", False):
            return "val/pck"
        trains_parsing = any(term.loss.needs == "parsing" for term in self.loss_terms)
        return "val/miou" if self.parses and (trains_parsing or not self.poses) else "val/pck"

    # -- forward ----------------------------------------------------------------------
    def forward(self, images: torch.Tensor, **inputs: torch.Tensor) -> ModelOutput:
        """The model on normalised images and, by name, the extra inputs it declares."""
        x = self.preprocessing.normalize(images)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
            inputs = {k: v.contiguous(memory_format=torch.channels_last) for k, v in inputs.items()}
        return self.model(x, **inputs)

    def model_inputs(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The batch's maps the model takes as extra inputs (``ExtraInput``), as float32 by name."""
        wanted = extra_inputs_of(self.model)
        if not wanted:
            return {}
        maps = batch.get("maps") or {}
        missing = [name for name in wanted if name not in maps]
        if missing:
            raise ConfigError(
                f"the model takes the per-pixel input(s) {missing} beside the image, and the data gives "
                f"{sorted(maps) or 'no maps'}"
            )
        return {name: maps[name].float() for name in wanted}

    # -- training ---------------------------------------------------------------------
    def active_terms(self) -> list[LossTerm]:
        """The loss terms on in the current epoch (a method's phases are terms' epoch ranges)."""
        return [term for term in self.loss_terms if term.active(self.current_epoch)]

    def compute_loss(self, output: ModelOutput, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The training loss of a batch and its parts: ``loss`` (the weighted total), each active
        term's loss under its log name (``parsing``, ``pose``, ...; a second term of the same
        name gets its index appended) and what the terms log besides (``structure_factor``)."""
        parts: dict[str, torch.Tensor] = {}
        total = batch["image"].new_zeros((), dtype=torch.float32)
        for index, term in enumerate(self.loss_terms):
            routed = term.routed(output, batch) if term.active(self.current_epoch) else None
            if routed is None:  # off in this epoch, or none of its source's samples in the batch
                continue
            result = term.loss(*routed)
            name = term.loss.log_name if term.loss.log_name not in parts else f"{term.loss.log_name}_{index}"
            parts[name] = result["loss"]
            for key, log_name in term.loss.logged.items():
                parts[log_name] = result[key]
            total = total + term.weight * result["loss"]
        parts["loss"] = total
        return parts

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        output = self(batch["image"], **self.model_inputs(batch))
        parts = self.compute_loss(output, batch)
        batch_size = batch["image"].shape[0]
        for name, value in parts.items():
            if name != "loss":
                self.log(f"train/loss_{name}", value, batch_size=batch_size)
        # Not prog_bar: Lightning would read it back every step (LossProgressBar shows it).
        self.log("train/loss", parts["loss"], batch_size=batch_size)
        return parts["loss"]

    def train(self, mode: bool = True) -> HumanTask:
        """As ``nn.Module.train``; with ``train.freeze_bn`` the model's BatchNorm layers stay in
        eval mode (their running statistics fixed) and their affine parameters untrained; the
        modules of ``train.freeze_modules`` stay in eval mode whole (BatchNorm and dropout)."""
        super().train(mode)
        if mode:
            self._keep_frozen()
        return self

    def _keep_frozen(self) -> None:
        if getattr(self, "train_options", {}).get("freeze_bn", False):
            freeze_batchnorm(self.model)
        for module in getattr(self, "frozen_modules", []):
            module.eval()

    def on_train_epoch_start(self) -> None:
        # Lightning does not call train() when training starts, and after each validation it
        # restores every submodule's own mode: freezing here covers every epoch.
        self._keep_frozen()

    # -- validation -------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self.val_matrix.reset()
        if self.joint_schema is not None:
            self.val_pck = PCKAccumulator(self.joint_schema)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        output = self(batch["image"], **self.model_inputs(batch))
        stride = heatmap_stride_of(self.model, output, self.input_size)
        maps, layout = output_maps(output, self.input_size, self.schema, self.joint_schema, stride)
        metas = batch["meta"]
        views = original_views(maps, [m["affine"] for m in metas], [m["orig_size"] for m in metas])
        for meta, (view, coverage) in zip(metas, views):
            decoded = decode_maps(view / coverage.clamp_min(1e-6), layout, View.whole(meta["affine"], meta["orig_size"]))
            original = meta.get("orig_label")
            if decoded.labels is not None and original is not None:
                gt = torch.tensor(original, device=view.device, dtype=torch.long)  # copies: readers' arrays are read-only
                self.val_matrix.update(decoded.labels, gt)
            original = meta.get("orig_keypoints")
            if decoded.joints is not None and original is not None and self.val_pck is not None:
                headbox = meta.get("headbox")
                points = decoded.joints[None, :, :2].cpu().numpy()
                self.val_pck.update(points, original[:1], None if headbox is None else headbox[:1])

    def on_validation_epoch_end(self) -> None:
        distributed = self.trainer.world_size > 1
        matrix = self.val_matrix
        if distributed:
            matrix.all_reduce()
        if self.parses and matrix.total > 0:
            scores = matrix.scores(self.absent)
            for name, value in (
                ("val/miou", scores.miou), ("val/pixel_accuracy", scores.pixel_accuracy),
                ("val/mean_accuracy", scores.mean_accuracy), ("val/fwiou", scores.fwiou),
            ):
                # Every process holds the same all-reduced scores; sync_dist only averages equals.
                self.log(name, 100.0 * float(value), prog_bar=name == "val/miou", sync_dist=distributed)
        if self.poses and self.val_pck is not None:
            if distributed:
                self.val_pck.all_reduce()
            summary = self.val_pck.summary()
            if summary.mean is not None:
                self.log("val/pck", summary.mean, prog_bar=True, sync_dist=distributed)
                for column, value in summary.table.items():
                    if value is not None:
                        self.log(f"val/pck_{column.lower()}", value, sync_dist=distributed)

    # -- optimisation -----------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, Any]:
        t = self.train_options
        # Frozen BatchNorm's weight and bias are not trained (train.freeze_bn).
        frozen_bn = batchnorm_layers(self.model) if t.get("freeze_bn", False) else []
        frozen = {id(p) for layer in frozen_bn for p in layer.parameters()}
        trained = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad and id(p) not in frozen]
        # The backbone and train.base_lr_modules learn at lr, the rest at lr * head_lr_mult.
        base_prefixes = ("backbone.", *(f"{m.rstrip('.')}." for m in t.get("base_lr_modules") or ()))
        names = [n for n, _ in self.model.named_parameters()]
        unknown = [m[:-1] for m in base_prefixes[1:] if not any(n.startswith(m) for n in names)]
        if unknown:
            tops = top_level_modules(names)
            raise ConfigError(f"train.base_lr_modules: {', '.join(unknown)} names no parameters of the model "
                              f"(its top-level modules: {tops})")
        base = [p for n, p in trained if n.startswith(base_prefixes)]
        base_ids = {id(p) for p in base}
        rest = [p for _, p in trained if id(p) not in base_ids]
        groups = [g for g in (
            {"params": base, "lr": t["lr"]},
            {"params": rest, "lr": t["lr"] * t.get("head_lr_mult", 1.0)},
        ) if g["params"]]
        if t["optimizer"] == "adamw":
            betas = (float(t.get("adam_beta1", 0.9)), 0.999)
            optimizer = torch.optim.AdamW(groups, lr=t["lr"], betas=betas, weight_decay=t["weight_decay"])
        elif t["optimizer"] == "rmsprop":  # PIL's (the hourglass's) optimizer
            optimizer = torch.optim.RMSprop(groups, lr=t["lr"], weight_decay=t["weight_decay"])
        else:
            optimizer = torch.optim.SGD(groups, lr=t["lr"], momentum=t["momentum"], weight_decay=t["weight_decay"])
        if t.get("lr_milestones"):
            # A step schedule by epoch (PIL's x0.5 at epochs 150, 170, 200).
            steps = torch.optim.lr_scheduler.MultiStepLR(optimizer, t["lr_milestones"], float(t.get("lr_gamma", 0.5)))
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": steps, "interval": "epoch"}}
        total = int(self.trainer.estimated_stepping_batches)
        power, warmup = float(t.get("poly_power", 0.9)), int(t.get("warmup_steps", 0))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: poly_factor(step, total, power, warmup)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


ParsingTask = HumanTask  # its earlier name

__all__ = ["HumanTask", "ParsingTask", "plain_state_names", "poly_factor"]
