"""CIFAR-10 read from the python batch pickles (our own reader: torchvision's CIFAR10 rejects reconstructed copies).

load_split returns a whole split as arrays; Cifar and IMBALANCECIFAR10 are the kit's Datasets over it. Like
torchvision's CIFAR10 they keep `data` (N, 32, 32, 3) uint8 and `targets` (list of int), and __getitem__ gives
(PIL image, label) through the optional transforms, so torchvision transforms work unchanged.
"""
import os
import pickle

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

FOLDER_NAME = "cifar-10-batches-py"
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_BATCH_FILES = {True: [f"data_batch_{i}" for i in range(1, 6)], False: ["test_batch"]}


class DataError(ValueError):
    """A batch file that is not a CIFAR-10 batch; the message is one line naming the file."""


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles only what a CIFAR batch holds (dicts, lists, numpy arrays): a pickle can otherwise run code.

    _codecs.encode is how Python 3 writes bytes at pickle protocol 2, which re-packed copies may use.
    """

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
                ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")}

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a CIFAR batch file")
        return super().find_class(module, name)


def batches_folder(path):
    """`path` itself, or `path`/cifar-10-batches-py when it exists (torchvision's `root` convention)."""
    nested = os.path.join(path, FOLDER_NAME)
    return nested if os.path.isdir(nested) else path


def load_split(folder, train=True):
    """One split of CIFAR-10: images uint8 (N, 32, 32, 3) and labels int64 (N,), in file order."""
    images, labels = [], []
    for name in _BATCH_FILES[train]:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} not found; fetch CIFAR-10 with `sh data/get_data.sh`")
        with open(path, "rb") as f:
            batch = _BatchUnpickler(f, encoding="bytes").load()
        images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.ascontiguousarray(np.concatenate(images).transpose(0, 2, 3, 1)), np.concatenate(labels)


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

    Which images survive depends only on rand_number: each class's indices are shuffled by
    np.random.RandomState(rand_number), the generator np.random.seed(rand_number) would set, so the selection
    matches code that seeds numpy globally without changing numpy's global state.
    The data is fetched by data/get_data.sh; `download` is accepted for compatibility and fetches nothing.
    """

    cls_num = 10
    img_max = 5000  # images per class in the CIFAR-10 training set

    def __init__(self, root, imb_type="exp", imb_factor=0.01, rand_number=0, train=True,
                 transform=None, target_transform=None, download=False):
        images, labels = load_split(batches_folder(root), train)
        super().__init__(images, labels, transform, target_transform)
        self._rng = np.random.RandomState(rand_number)
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
            self._rng.shuffle(indices)
            kept_per_class.append(indices[:count])
        kept = np.concatenate(kept_per_class)
        self.data = self.data[kept]
        self.targets = labels[kept].tolist()
        self._cls_num_list = [len(indices) for indices in kept_per_class]

    def get_cls_num_list(self):
        """Images kept per class, in class order (the requested counts, or fewer where a class has fewer)."""
        return list(self._cls_num_list)
