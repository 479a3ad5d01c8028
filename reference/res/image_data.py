"""A small synthetic two-class image dataset for the project's hw2_cnn notebook.

Stands in for the course's cats-vs-dogs download (the project must run offline and fast
on a CPU): 3x32x32 images holding one filled shape, a disc (class 0) or a square
(class 1), of random size, position and colour, on a noisy textured background. Telling
the two apart needs the shape's outline, not its colour or area statistics, so a linear
model on pixels does poorly while a small CNN learns it in a few epochs.

Everything is generated from a seed with torch's own generator: no files, no downloads,
the same tensors on every machine.
"""
import torch
from torch.utils.data import TensorDataset

CLASSES = ("disc", "square")
IMAGE_SIZE = 32


def make_images(n, seed, size=IMAGE_SIZE):
    """n images (n, 3, size, size) float32 in about [0, 1] and labels (n,) int64."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    # Shape sizes overlap between classes: a disc of radius r and a square of half side
    # r * 0.886 have the same area, so the pixel count gives nothing away.
    radius = 4 + 6 * torch.rand(n, generator=g)
    half = torch.where(labels == 1, radius * 0.886, radius)
    centre = half[:, None] + torch.rand(n, 2, generator=g) * (size - 1 - 2 * half[:, None])
    coords = torch.arange(size, dtype=torch.float32)
    dy = coords[None, :, None] - centre[:, 0, None, None]
    dx = coords[None, None, :] - centre[:, 1, None, None]
    disc = dx ** 2 + dy ** 2 <= radius[:, None, None] ** 2
    square = torch.maximum(dx.abs(), dy.abs()) <= half[:, None, None]
    mask = torch.where((labels == 1)[:, None, None], square, disc).float()

    background = 0.5 * torch.rand(n, 3, 1, 1, generator=g)
    colour = 0.5 + 0.5 * torch.rand(n, 3, 1, 1, generator=g)
    images = background + (colour - background) * mask[:, None]
    images = images + 0.15 * torch.randn(n, 3, size, size, generator=g)
    return images.clamp(0, 1), labels


def get_datasets(seed=0, n_train=2000, n_val=500, n_test=500, size=IMAGE_SIZE):
    """(train, validation, test) TensorDatasets of (image, label), each split from its
    own derived seed so changing one split's size leaves the others unchanged."""
    splits = []
    for offset, n in enumerate((n_train, n_val, n_test)):
        images, labels = make_images(n, seed * 1000 + offset, size)
        splits.append(TensorDataset(images, labels))
    return tuple(splits)
