"""CIFAR-10 read from the python batch pickles (our own reader: torchvision's CIFAR10 rejects reconstructed copies).

load_split returns a whole split as arrays; Cifar and IMBALANCECIFAR10 are the kit's Datasets over it. Like
torchvision's CIFAR10 they keep `data` (N, 32, 32, 3) uint8 and `targets` (list of int), and __getitem__ gives
(PIL image, label) through the optional transforms, so torchvision transforms work unchanged.

Each batch file is read and checked by data/cifar_batches.py (safely: a pickle can run code); every problem with
a file is a DataError whose one-line message names the file and the fix.
"""
import os

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from .cifar_batches import read_batch

FOLDER_NAME = "cifar-10-batches-py"
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SHORT_CLASS_NAMES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")  # for tables
_BATCH_FILES = {True: [f"data_batch_{i}" for i in range(1, 6)], False: ["test_batch"]}


def batches_folder(path):
    """`path` itself, or `path`/cifar-10-batches-py when it exists (torchvision's `root` convention)."""
    nested = os.path.join(path, FOLDER_NAME)
    return nested if os.path.isdir(nested) else path


def load_split(folder, train=True):
    """One split of CIFAR-10: images uint8 (N, 32, 32, 3) and labels int64 (N,), in file order; DataError
    (DataMissingError, also a FileNotFoundError, for a missing file) when a batch is not what CIFAR-10 holds."""
    images, labels = zip(*(read_batch(os.path.join(folder, name)) for name in _BATCH_FILES[train]))
    images = np.concatenate(images).reshape(-1, 3, 32, 32)
    return np.ascontiguousarray(images.transpose(0, 2, 3, 1)), np.concatenate(labels)


class _CifarImages(Dataset):
    def __init__(self, images, labels, transform=None, target_transform=None):
        self.data = images
        self.targets = [int(label) for label in labels]
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        image, target = Image.fromarray(self.data[index]), self.targets[index]
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target


def _balanced_subset(labels, samples):
    """Indices of `samples` images taken round-robin over the classes (first images of each class first)."""
    rank_in_class = np.zeros(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        members = labels == label
        rank_in_class[members] = np.arange(members.sum())
    round_robin = np.lexsort((labels, rank_in_class))
    return np.sort(round_robin[:samples])


class Cifar(_CifarImages):
    """CIFAR-10 train or test split; `samples` keeps that many images, class-balanced when `balance` is true
    (the remainder going to the lowest class indices), else the first `samples` in file order."""

    def __init__(self, path="data/cifar-10-batches-py/", transform=None, train=True, samples=None, balance=True):
        images, labels = load_split(batches_folder(path), train)
        if samples is not None:
            if not 1 <= samples <= len(labels):
                raise ValueError(f"samples must be between 1 and {len(labels)}, got {samples}")
            keep = _balanced_subset(labels, samples) if balance else np.arange(samples)
            images, labels = images[keep], labels[keep]
        super().__init__(images, labels, transform)


class IMBALANCECIFAR10(_CifarImages):
    """Long-tailed CIFAR-10 (Cao et al. 2019, Cui et al. 2019): class i keeps get_img_num_per_cls(...)[i] images.

    Which images survive depends only on rand_number: as in the kit, the constructor seeds numpy's global
    generator with it and gen_imbalanced_data shuffles each class's indices with np.random.shuffle (training
    draws nothing from numpy, so the reseeding changes no run).
    The data is fetched by data/get_data.sh; `download` is accepted for compatibility and fetches nothing.
    """

    cls_num = 10
    img_max = 5000  # images per class in the CIFAR-10 training set

    def __init__(self, root, imb_type="exp", imb_factor=0.01, rand_number=0, train=True,
                 transform=None, target_transform=None, download=False):
        images, labels = load_split(batches_folder(root), train)
        super().__init__(images, labels, transform, target_transform)
        np.random.seed(rand_number)
        self.gen_imbalanced_data(self.get_img_num_per_cls(self.cls_num, imb_type, imb_factor))

    @classmethod  # needs no images: IMBALANCECIFAR10.get_img_num_per_cls(10, "exp", 0.01) works too
    def get_img_num_per_cls(cls, cls_num, imb_type, imb_factor):
        """Images per class: 'exp' decays geometrically from img_max to img_max * imb_factor, 'step' keeps
        img_max for the first half of the classes and img_max * imb_factor for the rest, anything else is uniform."""
        if imb_type == "exp":
            return [int(cls.img_max * imb_factor ** (i / (cls_num - 1))) for i in range(cls_num)]
        if imb_type == "step":
            head = cls_num // 2
            return [cls.img_max] * head + [int(cls.img_max * imb_factor)] * (cls_num - head)
        return [cls.img_max] * cls_num

    def gen_imbalanced_data(self, img_num_per_cls):
        """Keep the first n of each class's shuffled indices (classes in label order)."""
        labels = np.asarray(self.targets)
        kept_per_class = []
        for label, count in enumerate(img_num_per_cls):
            indices = np.flatnonzero(labels == label)
            np.random.shuffle(indices)
            kept_per_class.append(indices[:count])
        kept = np.concatenate(kept_per_class)
        self.data = self.data[kept]
        self.targets = labels[kept].tolist()
        self._cls_num_list = [len(indices) for indices in kept_per_class]

    def get_cls_num_list(self):
        """Images kept per class, in class order (the requested counts, or fewer where a class has fewer)."""
        return list(self._cls_num_list)
