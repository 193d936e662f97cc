"""Datasets: builders (bundled, files, IDX), the train/test :class:`~alrun.data.splits.Splits`,
checks on loaded arrays, and the in-memory tensors the fits and queries read."""
