"""Training through Lightning: the task (model + loss terms + metrics), the data module, train runs."""

from .data import HumanDataModule, HumanDataset, ParsingDataModule, ParsingDataset, ShardedSampler, select_ids
from .task import HumanTask, ParsingTask, poly_factor

__all__ = [
    "HumanDataModule", "HumanDataset", "HumanTask", "ParsingDataModule", "ParsingDataset", "ParsingTask",
    "ShardedSampler", "poly_factor", "select_ids",
]
