"""The Lightning task: wires a parsing and/or pose model, its losses and the official-protocol metrics."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from ..config import DEFAULTS
from ..data.heatmaps import decode_heatmaps
from ..data.transforms import warp_back, warp_back_points
from ..evaluation.parsing_metrics import ConfusionMatrix
from ..evaluation.pose_metrics import PCKAccumulator
from ..evaluation.tta import class_ids, normalize
from ..losses import HeatmapLoss, ParsingLoss, StructureSensitiveLoss, upsample_to
from ..models import ModelOutput, build_model, predicts_joints, predicts_parsing
from ..models.saved import IMAGENET_MEAN, IMAGENET_STD
from ..schemas import IGNORE_INDEX, JointSchema, LabelSchema, joint_schema_from_dict, label_schema_from_dict

STRUCTURE_DEFAULTS: dict[str, Any] = DEFAULTS["train"]["structure_loss"]
HEATMAP_DEFAULTS: dict[str, Any] = DEFAULTS["train"]["heatmap"]


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


class ParsingTask(L.LightningModule):
    """Training and validation of a parsing model, a pose model, or a joint parsing + pose model.

    What is trained follows what the model predicts: parsing logits are supervised with
    cross-entropy (or, once ``train.structure_loss`` is on, the structure-sensitive loss)
    and scored by mIoU; joint heatmaps are supervised with the heatmap loss against the
    batch's keypoints and scored by PCK under the joint schema's rule.

    Batches hold uint8 images and labels; images are normalised and labels widened to int64
    on the model's device (so loaders move bytes, not floats). Validation predictions are
    warped back to each image's original resolution and scored there against the original
    label and keypoints, as the official protocols do.
    """

    def __init__(
        self,
        model_spec: dict[str, Any],
        label_schema: dict[str, Any],
        input_size: tuple[int, int],
        train: dict[str, Any],
        absent: str = "skip",
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
        joint_schema: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.schema: LabelSchema = label_schema_from_dict(label_schema)
        self.joint_schema: JointSchema | None = joint_schema_from_dict(joint_schema) if joint_schema else None
        self.model = build_model(model_spec)
        self.parses = predicts_parsing(self.model)
        self.poses = predicts_joints(self.model)
        if self.poses and self.joint_schema is None:
            raise ValueError(
                f"model {model_spec.get('name')!r} predicts joints, but the data has no joint schema "
                "(use a dataset with keypoints, e.g. LIP with its pose CSV)"
            )
        aux_weight = train.get("aux_weight", 1.0)
        self.loss = ParsingLoss(aux_weight=aux_weight)
        structure = {**STRUCTURE_DEFAULTS, **(train.get("structure_loss") or {})}
        if structure["enabled"] and not self.parses:
            raise ValueError(f"train.structure_loss needs a model that parses; {model_spec.get('name')!r} predicts joints only")
        self.structure_start = int(structure["start_epoch"])
        self.structure_loss = (
            StructureSensitiveLoss(
                self.schema, sigma=float(structure["sigma"]), aux_weight=aux_weight,
                per_output=bool(structure["per_output"]),
            )
            if structure["enabled"] else None
        )
        heatmap = {**HEATMAP_DEFAULTS, **(train.get("heatmap") or {})}
        self.heatmap_loss = HeatmapLoss(
            sigma=float(heatmap["sigma"]), occluded_weight=float(heatmap["occluded_weight"]), aux_weight=aux_weight
        )
        self.parsing_weight = float(train.get("parsing_weight", 1.0))
        self.pose_weight = float(train.get("pose_weight", 1.0))
        self.train_options = train
        self.input_size = tuple(input_size)
        self.absent = absent
        self.mean, self.std = tuple(mean), tuple(std)
        self.channels_last = False
        self.val_matrix = ConfusionMatrix(self.schema.num_classes, IGNORE_INDEX)
        self.val_pck = PCKAccumulator(self.joint_schema) if self.joint_schema is not None else None

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
        """The validation score that picks the best checkpoint: mIoU, or PCK for a pose-only model."""
        return "val/miou" if self.parses else "val/pck"

    # -- forward ----------------------------------------------------------------------
    def forward(self, images: torch.Tensor) -> ModelOutput:
        x = normalize(images, self.mean, self.std)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)

    # -- training ---------------------------------------------------------------------
    def structure_active(self) -> bool:
        """Whether this epoch trains with the structure-sensitive loss (the paper's second phase)."""
        return self.structure_loss is not None and self.current_epoch >= self.structure_start

    def compute_loss(self, output: ModelOutput, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The training loss of a batch and its parts: ``loss`` (total), ``parsing`` (for models
        that parse), ``structure_factor`` (while the structure-sensitive loss is on), ``pose``
        (for models that predict joints)."""
        terms: dict[str, torch.Tensor] = {}
        total = batch["image"].new_zeros((), dtype=torch.float32)
        if self.parses:
            label = batch["label"].long()  # loaders send uint8 (see collate); the losses index with int64
            if self.structure_active():
                assert self.structure_loss is not None
                parsing = self.structure_loss(output, label)
                terms["structure_factor"] = parsing["joint"]
            else:
                parsing = self.loss(output, label)
            terms["parsing"] = parsing["loss"]
            total = total + self.parsing_weight * parsing["loss"]
        if self.poses:
            if "keypoints" not in batch:
                raise ValueError("the model predicts joints but the batch has no keypoints")
            terms["pose"] = self.heatmap_loss(output, batch["keypoints"], self.model_stride)["loss"]
            total = total + self.pose_weight * terms["pose"]
        terms["loss"] = total
        return terms

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        output = self(batch["image"])
        terms = self.compute_loss(output, batch)
        batch_size = batch["image"].shape[0]
        if "structure_factor" in terms:
            self.log("train/loss_structure_factor", terms["structure_factor"], batch_size=batch_size)
        if "parsing" in terms and (self.poses or output.aux_logits):
            self.log("train/loss_parsing", terms["parsing"], batch_size=batch_size)
        if "pose" in terms:
            self.log("train/loss_pose", terms["pose"], batch_size=batch_size)
        # Not prog_bar: Lightning would read it back every step (LossProgressBar shows it).
        self.log("train/loss", terms["loss"], batch_size=batch_size)
        return terms["loss"]

    @property
    def model_stride(self) -> int:
        return int(self.model.output_stride)

    # -- validation -------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self.val_matrix.reset()
        if self.joint_schema is not None:
            self.val_pck = PCKAccumulator(self.joint_schema)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        output = self(batch["image"])
        if self.parses and output.logits is not None:
            logits = upsample_to(output.logits.float(), self.input_size)
            for i, meta in enumerate(batch["meta"]):
                original = meta.get("orig_label")
                if original is None:
                    continue
                scores = warp_back(logits[i], meta["affine"], meta["orig_size"], self.schema)
                gt = torch.tensor(original, device=scores.device, dtype=torch.long)  # copies: readers' arrays are read-only
                self.val_matrix.update(class_ids(scores), gt)
        if self.poses and output.heatmaps is not None and self.val_pck is not None:
            joints = decode_heatmaps(output.heatmaps, self.model_stride).cpu().numpy()
            for i, meta in enumerate(batch["meta"]):
                original = meta.get("orig_keypoints")
                if original is None:
                    continue
                points = warp_back_points(joints[i, :, :2], meta["affine"])
                headbox = meta.get("headbox")
                self.val_pck.update(points[None], original[:1], None if headbox is None else headbox[:1])

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
        backbone = [p for n, p in self.model.named_parameters() if n.startswith("backbone.") and p.requires_grad]
        backbone_ids = {id(p) for p in backbone}
        rest = [p for p in self.model.parameters() if id(p) not in backbone_ids and p.requires_grad]
        groups = [g for g in (
            {"params": backbone, "lr": t["lr"]},
            {"params": rest, "lr": t["lr"] * t.get("head_lr_mult", 1.0)},
        ) if g["params"]]
        if t["optimizer"] == "adamw":
            optimizer = torch.optim.AdamW(groups, lr=t["lr"], weight_decay=t["weight_decay"])
        else:
            optimizer = torch.optim.SGD(groups, lr=t["lr"], momentum=t["momentum"], weight_decay=t["weight_decay"])
        total = int(self.trainer.estimated_stepping_batches)
        power, warmup = float(t.get("poly_power", 0.9)), int(t.get("warmup_steps", 0))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: poly_factor(step, total, power, warmup)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


__all__ = ["ParsingTask", "plain_state_names", "poly_factor"]
