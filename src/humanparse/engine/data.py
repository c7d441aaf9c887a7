"""The data module: readers, transforms and samplers wired from a config's ``data`` section."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..data.image_io import DEFAULT_MAX_PIXELS, DataError
from ..errors import ConfigError
from ..data.readers import FORMATS, Reader, get_format, open_dataset
from ..data.readers.base import read_id_list
from ..data.sample import MapSpec, Sample, collate
from ..data.transforms import EvalTransform, PhotometricJitter, RandomAffine, TrainTransform
from ..schemas import JointSchema, LabelSchema, get_label_schema


def _id_key(value: str) -> tuple[int, Any]:
    """Ids compare as numbers when they are numbers, so "0701" lies between "0001" and "0800"."""
    return (0, int(value)) if value.isdigit() else (1, value)


def select_ids(ids: Sequence[str], selection: Any) -> list[int]:
    """Indices of ``ids`` kept by ``selection``: None (all), a list of ids, ``"first-last"``
    (inclusive range, numeric where the ids are numbers), or the path of an id-list file."""
    if selection is None:
        return list(range(len(ids)))
    if isinstance(selection, str):
        path = Path(selection)
        if path.suffix in (".txt", ".lst") or path.is_file():
            wanted, errors = read_id_list(path)
            if errors:
                raise errors[0]
            return _select_listed(ids, wanted, str(path))
        match = re.fullmatch(r"\s*([^\s-]+)\s*-\s*([^\s-]+)\s*", selection)
        if not match:
            raise ConfigError(f"an id selection must be a list, 'first-last' or an id-list file, not {selection!r}")
        low, high = _id_key(match.group(1)), _id_key(match.group(2))
        kept = [i for i, s in enumerate(ids) if low <= _id_key(s) <= high]
        if not kept:
            raise ConfigError(f"no sample id lies in the range {selection!r} (ids run {min(ids, key=_id_key, default='-')}..{max(ids, key=_id_key, default='-')})")
        return kept
    if isinstance(selection, (list, tuple)):
        return _select_listed(ids, [str(s) for s in selection], "the config's id list")
    raise ConfigError(f"an id selection must be a list, 'first-last' or an id-list file, not {selection!r}")


def _select_listed(ids: Sequence[str], wanted: Sequence[str], source: str) -> list[int]:
    position = {s: i for i, s in enumerate(ids)}
    missing = [w for w in wanted if w not in position]
    if missing:
        raise ConfigError(f"{source}: {len(missing)} ids not in the dataset, e.g. {missing[:5]}")
    return [position[w] for w in wanted]


class ShardedSampler(Sampler):
    """Indices for this process, reshuffled each epoch from ``seed`` and the epoch number.

    Training yields ``(epoch, index)`` pairs so that each sample's augmentation is drawn
    from (seed, epoch, index): the same on every run and in every worker, which makes
    resumed training see exactly the batches it would have seen. Under distributed
    training each process takes every world-size-th index (training pads to equal
    lengths so that every process runs the same number of steps).
    """

    def __init__(self, size: int, *, shuffle: bool, seed: int = 0, with_epoch: bool = False) -> None:
        self.size = size
        self.shuffle = shuffle
        self.seed = seed
        self.with_epoch = with_epoch
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:  # Lightning calls this at every epoch start
        self.epoch = epoch

    @staticmethod
    def _world() -> tuple[int, int]:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def _indices(self) -> list[int]:
        rank, world = self._world()
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.size, generator=g).tolist()
        else:
            order = list(range(self.size))
        if world > 1 and self.with_epoch:  # training: equal step counts on every process
            total = math.ceil(self.size / world) * world
            order = (order * math.ceil(total / max(1, len(order))))[:total]
        return order[rank::world]

    def __iter__(self) -> Iterator[Any]:
        for i in self._indices():
            yield (self.epoch, i) if self.with_epoch else i

    def __len__(self) -> int:
        return len(self._indices())


class HumanDataset(Dataset):
    """A reader's samples (optionally a subset), transformed for training or evaluation."""

    def __init__(
        self, reader: Reader, indices: Sequence[int], transform: TrainTransform | EvalTransform, seed: int = 0,
        prepare: Callable[[Sample, np.random.Generator], Sample] | None = None,
    ) -> None:
        """``prepare``: a step on each raw sample before the transform, with the sample's rng
        (WSHP's prior, which must warp with the image)."""
        self.reader = reader
        self.indices = list(indices)
        self.transform = transform
        self.seed = seed
        self.prepare = prepare

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int | tuple[int, int]) -> Sample:
        epoch, index = item if isinstance(item, tuple) else (0, item)
        rng = np.random.default_rng([self.seed, epoch, index])
        sample = self.reader[self.indices[index]]
        if self.prepare is not None:
            sample = self.prepare(sample, rng)
        return self.transform(sample, rng)


def open_split(data: dict[str, Any], split_key: str, ids_key: str, labels_required: bool = True) -> tuple[Reader, list[int]]:
    """The reader of one split named by the config, and the indices its id selection keeps."""
    if data["root"] is None:
        raise ConfigError("data.root is not set; give the dataset folder (data.root=PATH)")
    # Hand-made data sections (not from load_config) may leave the limit out.
    options: dict[str, Any] = {"max_pixels": data.get("max_pixels", DEFAULT_MAX_PIXELS)}
    if not labels_required:
        options["labels_required"] = False
    # The head boxes' .mat covers one split: the one scored (validation, evaluate).
    if data.get("headboxes") is not None and split_key == "val_split":
        if data["format"] != "mpii":
            raise ConfigError(f"data.headboxes is MPII's ground-truth .mat; the {data['format']!r} format takes none")
        options["headboxes"] = data["headboxes"]
    if data.get("keypoints") is not None:
        if not get_format(data["format"]).takes_keypoints_file:
            takers = ", ".join(name for name, reader in FORMATS.items() if reader.takes_keypoints_file)
            raise ConfigError(
                f"data.keypoints names a pose CSV for a format without joints of its own ({takers}); "
                f"the {data['format']!r} format takes none"
            )
        options["keypoints"] = data["keypoints"]
    reader = open_dataset(data["format"], data["root"], split=data[split_key], schema=data["schema"], **options)
    ids = [reader.sample_id(i) for i in range(len(reader))]
    try:
        indices = select_ids(ids, data[ids_key])
    except ValueError as e:
        raise DataError(data["root"], f"data.{ids_key}: {e}") from e
    if not indices:
        raise DataError(data["root"], f"split {data[split_key]!r} holds no samples")
    return reader, indices


def label_schema_of(data: dict[str, Any], reader: Reader | None = None) -> LabelSchema | None:
    """The data's label schema, or None for pose-only data (MPII, COCO keypoints: a reader
    opened with a joint schema)."""
    schema = getattr(reader, "schema", None)
    if isinstance(schema, LabelSchema):
        return schema
    if reader is None and data["schema"] is not None:
        return get_label_schema(data["schema"])
    return None


class MixedDataset(Dataset):
    """Datasets trained on together (labelled data and pseudo-labels): one index space, each
    part's own augmentation seed. Samples without a map that another part gives (a labelled
    sample has no ``noisy`` mask) get it as zeros, so that a mixed batch still collates it."""

    def __init__(self, parts: Sequence[HumanDataset], zero_maps: dict[str, MapSpec]) -> None:
        self.parts = list(parts)
        self.zero_maps = dict(zero_maps)
        self.transform = self.parts[0].transform  # shared: the fill colour is set once for all

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    def __getitem__(self, item: int | tuple[int, int]) -> Sample:
        epoch, index = item if isinstance(item, tuple) else (0, item)
        for part in self.parts:
            if index < len(part):
                sample = part[(epoch, index)]
                break
            index -= len(part)
        else:
            raise IndexError(f"sample index {item!r} out of range for {len(self)} samples")
        for name, spec in self.zero_maps.items():
            if name not in sample.maps:
                sample.maps[name] = np.zeros(sample.size, dtype=np.uint8)
                sample.map_specs[name] = spec
        return sample


def open_pseudo_labels(data: dict[str, Any], schema: LabelSchema | None) -> Reader:
    """The pseudo-label folder of ``data.pseudo_root``, in the labelled data's schema."""
    from ..data.readers import PseudoLabelReader

    reader = PseudoLabelReader(
        data["pseudo_root"], noise=data.get("pseudo_noise", "certainty_consistency"),
        gamma=data.get("pseudo_gamma", 0.5), max_pixels=data.get("max_pixels", DEFAULT_MAX_PIXELS),
    )
    if schema is None or reader.schema is None or reader.schema.classes != schema.classes:
        raise ConfigError(
            f"data.pseudo_root: the pseudo-labels are in schema {getattr(reader.schema, 'name', None)!r}, "
            f"the labelled data in {getattr(schema, 'name', None)!r}; pseudo-label with a model of the data's schema"
        )
    return reader


def prior_steps(
    options: dict[str, Any], reader: Reader, indices: Sequence[int], schema: LabelSchema | None
) -> tuple[Callable, Callable]:
    """WSHP's priors (``data.priors: {k, n}``): the training split's labelled people are the
    exemplars; a training sample gets a random k of its n nearest (never itself), a validation
    sample its k nearest. Both steps add the ``prior`` map before augmentation. ``{kind:
    skeleton}``: the skeleton-map prior instead (sticks along the bones, no exemplars)."""
    from ..transfer.priors import AddPrior, PriorMaker

    if schema is None or reader.joint_schema is None:
        raise ConfigError("data.priors needs labels and joints for the training split (data.keypoints for CCP)")
    if options.get("kind", "parts") == "skeleton":
        step = AddPrior(None, skeleton=reader.joint_schema)
        return step, step
    k, n = int(options.get("k", 3)), options.get("n", 5)
    exemplars = [reader[i] for i in indices]
    try:
        maker = PriorMaker.from_samples(exemplars, reader.joint_schema, schema.num_classes)
    except ValueError as e:
        raise DataError(reader.root, f"data.priors: {e}") from None
    own = {s.id: i for i, s in enumerate(exemplars)}
    return AddPrior(maker, k, None if n is None else int(n), own), AddPrior(maker, k, None, own)


class HumanDataModule(L.LightningDataModule):
    """Train and validation loaders of a config (parsing, pose or both; pose-only data has no
    label schema); images stay uint8 until the GPU."""

    def __init__(self, data: dict[str, Any], seed: int = 0) -> None:
        super().__init__()
        self.data = data
        self.seed = seed
        self.input_size = tuple(data["input_size"])
        self.train_set: HumanDataset | MixedDataset | None = None
        self.val_set: HumanDataset | None = None
        self.schema: LabelSchema | None = None
        self.joint_schema: JointSchema | None = None  # set when the training data has keypoints
        self.first_train_epoch = 0  # a resumed run's, from its checkpoint

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        data = self.data
        aug = data["augment"]
        train_reader, train_idx = open_split(data, "train_split", "train_ids")
        self.schema = label_schema_of(data, train_reader)
        self.joint_schema = train_reader.joint_schema
        transform = TrainTransform(
            self.input_size,
            label_schema=self.schema,
            joint_schema=train_reader.joint_schema,  # keypoints (e.g. LIP's pose CSV) flip with the image
            affine=RandomAffine(
                scale=tuple(aug["scale"]), rotation=float(aug["rotation"]),
                translation=float(aug["translation"]), flip_prob=float(aug["flip"]),
            ),
            jitter=PhotometricJitter() if aug["jitter"] else None,
        )
        train_prior = val_prior = None
        if data.get("priors") is not None:
            train_prior, val_prior = prior_steps(data["priors"], train_reader, train_idx, self.schema)
        self.train_set = HumanDataset(train_reader, train_idx, transform, seed=self.seed, prepare=train_prior)
        if data.get("pseudo_root") is not None:
            from ..data.readers.pseudo import NOISY

            pseudo = open_pseudo_labels(data, self.schema)
            # Its own seed: the two parts' samples at one position draw different augmentations.
            pseudo_set = HumanDataset(pseudo, range(len(pseudo)), transform, seed=self.seed + 1)
            self.train_set = MixedDataset([self.train_set, pseudo_set], {NOISY: MapSpec("mask")})
        if data["val_split"] is not None or data["val_ids"] is not None:
            val_reader, val_idx = open_split(data, "val_split", "val_ids")
            self.val_set = HumanDataset(val_reader, val_idx, EvalTransform(self.input_size), prepare=val_prior)

    def use_fill(self, fill: tuple[int, int, int]) -> None:
        """Letterbox and augment with ``fill``: the colour that normalises to zero under the
        model's own preprocessing (a model's is known only once it is built, after :meth:`setup`)."""
        for dataset in (self.train_set, self.val_set):
            if dataset is not None:
                dataset.transform.fill = tuple(fill)  # type: ignore[union-attr]

    def _loader(self, dataset: Dataset, sampler: Sampler, batch_size: int, drop_last: bool) -> DataLoader:
        workers = self.data["num_workers"]
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=workers,
            collate_fn=collate,
            pin_memory=torch.cuda.is_available(),
            drop_last=drop_last,
            # Workers live through the run: no start-up pause at each epoch or validation.
            # Augmentation follows (seed, epoch, index) from the sampler, not worker state.
            persistent_workers=workers > 0,
            prefetch_factor=4 if workers else None,
        )

    def state_dict(self) -> dict[str, Any]:
        """Saved in every checkpoint: the epoch a resumed run's sampler starts at (Lightning's
        count of the epochs it has begun, the number it gives ``set_epoch`` next)."""
        return {"train_epoch": int(self.trainer.fit_loop.epoch_progress.current.processed)} if self.trainer else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.first_train_epoch = int(state_dict.get("train_epoch", 0))

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None
        batch = self.data["batch_size"]
        sampler = ShardedSampler(len(self.train_set), shuffle=True, seed=self.seed, with_epoch=True)
        # Lightning starts the loader's iterator before it sets the epoch, and worker processes
        # take their first indices at that start: a resume would replay epoch 0's batches.
        sampler.set_epoch(self.first_train_epoch)
        return self._loader(self.train_set, sampler, batch, drop_last=len(sampler) >= batch)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_set is None:
            return []
        batch = self.data["val_batch_size"] or self.data["batch_size"]
        return self._loader(self.val_set, ShardedSampler(len(self.val_set), shuffle=False), batch, drop_last=False)


# Their earlier names.
ParsingDataModule = HumanDataModule
ParsingDataset = HumanDataset

__all__ = [
    "HumanDataModule", "HumanDataset", "MixedDataset", "ParsingDataModule", "ParsingDataset", "ShardedSampler", "label_schema_of",
    "open_pseudo_labels", "open_split", "select_ids",
]
