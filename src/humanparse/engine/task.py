"""The Lightning task for parsing: wires a model, its loss and the official-protocol metrics."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from ..data.transforms import warp_back
from ..evaluation.parsing_metrics import ConfusionMatrix
from ..evaluation.tta import normalize
from ..losses import ParsingLoss, upsample_to
from ..models import ModelOutput, build_model
from ..models.saved import IMAGENET_MEAN, IMAGENET_STD
from ..schemas import IGNORE_INDEX, LabelSchema, label_schema_from_dict

def poly_factor(step: int, total: int, power: float, warmup: int = 0) -> float:
    """The papers' "poly" schedule, lr * (1 - step/total)^power, after an optional linear warm-up."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    total = max(1, total)
    return max(0.0, 1.0 - min(step, total) / total) ** power


class ParsingTask(L.LightningModule):
    """Training and validation of a parsing model.

    Batches hold uint8 images; they are normalised on the model's device (so loaders move
    bytes, not floats). Validation predictions are warped back to each image's original
    resolution and scored there against the original label, as the official protocol does.
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
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.schema: LabelSchema = label_schema_from_dict(label_schema)
        self.model = build_model(model_spec)
        self.loss = ParsingLoss(aux_weight=train.get("aux_weight", 1.0))
        self.train_options = train
        self.input_size = tuple(input_size)
        self.absent = absent
        self.mean, self.std = tuple(mean), tuple(std)
        self.channels_last = False
        self.val_matrix = ConfusionMatrix(self.schema.num_classes, IGNORE_INDEX)

    # -- forward ----------------------------------------------------------------------
    def forward(self, images: torch.Tensor) -> ModelOutput:
        x = normalize(images, self.mean, self.std)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)

    # -- training ---------------------------------------------------------------------
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        output = self(batch["image"])
        losses = self.loss(output, batch["label"])
        batch_size = batch["image"].shape[0]
        self.log("train/loss", losses["loss"], prog_bar=True, batch_size=batch_size)
        if output.aux_logits:
            self.log("train/loss_main", losses["main"], batch_size=batch_size)
        return losses["loss"]

    # -- validation -------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self.val_matrix.reset()

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        output = self(batch["image"])
        logits = upsample_to(output.logits.float(), self.input_size)
        for i, meta in enumerate(batch["meta"]):
            original = meta.get("orig_label")
            if original is None:
                continue
            scores = warp_back(logits[i], meta["affine"], meta["orig_size"], self.schema)
            gt = torch.tensor(original, device=scores.device, dtype=torch.long)  # copies: readers' arrays are read-only
            self.val_matrix.update(scores.argmax(0), gt)

    def on_validation_epoch_end(self) -> None:
        matrix = self.val_matrix
        if self.trainer.world_size > 1:
            matrix.all_reduce()
        if matrix.total == 0:
            return
        scores = matrix.scores(self.absent)
        for name, value in (
            ("val/miou", scores.miou), ("val/pixel_accuracy", scores.pixel_accuracy),
            ("val/mean_accuracy", scores.mean_accuracy), ("val/fwiou", scores.fwiou),
        ):
            # Every process holds the same all-reduced scores; sync_dist only averages equals.
            self.log(name, 100.0 * float(value), prog_bar=name == "val/miou", sync_dist=self.trainer.world_size > 1)

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


__all__ = ["ParsingTask", "poly_factor"]
