"""Data of your own: a function returning arrays, and a torch Dataset."""

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch.utils.data import Dataset


def digits_arrays(n_items: int = 1797) -> tuple[np.ndarray, np.ndarray]:
    """(X, y): scikit-learn's 8x8 digits as 64 features in [0, 1], and their labels."""
    digits = load_digits()
    return digits.data[:n_items] / 16.0, digits.target[:n_items]


class DigitImages(Dataset):
    """A map-style Dataset of (image [1, 8, 8], label) items, the first or the last rows of digits."""

    def __init__(self, part: str = "train", n_test: int = 300):
        digits = load_digits()
        rows = slice(None, -n_test) if part == "train" else slice(-n_test, None)
        self.images = torch.tensor(digits.images[rows, None] / 16.0, dtype=torch.float32)
        self.labels = torch.tensor(digits.target[rows])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i], self.labels[i]


def digit_images(n_test: int = 300) -> tuple[DigitImages, DigitImages]:
    """A (train, test) pair of Datasets: alrun keeps this test set instead of splitting one off."""
    return DigitImages("train", n_test), DigitImages("test", n_test)
