"""Training through Lightning: the parsing task, the data module, train and evaluate runs."""

from .data import ParsingDataModule, ParsingDataset, ShardedSampler, select_ids
from .task import ParsingTask, poly_factor

__all__ = ["ParsingDataModule", "ParsingDataset", "ParsingTask", "ShardedSampler", "poly_factor", "select_ids"]
