"""CIFAR-10 read from the python batch pickles (our own reader: torchvision's CIFAR10 rejects reconstructed copies).

load_split returns a whole split as arrays; Cifar and IMBALANCECIFAR10 are the kit's Datasets over it. Like
torchvision's CIFAR10 they keep `data` (N, 32, 32, 3) uint8 and `targets` (list of int), and __getitem__ gives
(PIL image, label) through the optional transforms, so torchvision transforms work unchanged.

A batch is a pickle, and a pickle can run code when loaded, so the files are read with an unpickler that builds
only what a batch holds (dicts, lists, numpy arrays) and checked before anything is returned. Every problem with
a file, from missing to malformed, is a DataError whose one-line message names the file and the fix.
"""
import os
import pickle

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

FOLDER_NAME = "cifar-10-batches-py"
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SHORT_CLASS_NAMES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")  # for tables
_BATCH_FILES = {True: [f"data_batch_{i}" for i in range(1, 6)], False: ["test_batch"]}
FETCH_HINT = "re-fetch CIFAR-10 with `sh data/get_data.sh`"
IMAGE_VALUES = 3 * 32 * 32  # one row of a batch's data: the R, G and B planes, each 32x32 row-major


class DataError(ValueError):
    """A CIFAR-10 batch file that is missing, unreadable or not what the python version of CIFAR-10 holds."""


class DataMissingError(DataError, FileNotFoundError):
    """A batch file (or the whole folder) that does not exist."""


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles only what a CIFAR batch holds (dicts, lists, numpy arrays): a pickle can otherwise run code.

    _codecs.encode is how Python 3 writes bytes at pickle protocol 2, which re-packed copies may use (and
    bytes() for an empty array's data).
    """

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"), ("__builtin__", "bytes"),
                ("builtins", "bytes"), ("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct")}

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a CIFAR batch file")
        return super().find_class(module, name)


def _field(batch, key):
    """batch[key] under a bytes or a str key: Python 2 wrote str keys, read here as bytes; Python 3 may write str."""
    for candidate in (key.encode(), key):
        if candidate in batch:
            return batch[candidate]
    raise KeyError(key)


class _BadBatch(Exception):
    """What is wrong with an unpickled batch (turned into a DataError naming the file)."""


def _checked(batch):
    """(images uint8 (N, 3072), labels int64 (N,)) from an unpickled batch; _BadBatch saying what is wrong."""
    if not isinstance(batch, dict):
        raise _BadBatch(f"holds a {type(batch).__name__}, not a dict with data and labels")
    try:
        data, labels = _field(batch, "data"), _field(batch, "labels")
    except KeyError as missing:
        raise _BadBatch(f"has no '{missing.args[0]}' entry") from None
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "ui":
        kind = f"an array of {data.dtype}" if isinstance(data, np.ndarray) else f"a {type(data).__name__}"
        raise _BadBatch(f"data is {kind}, expected an array of uint8")
    if data.ndim == 0 or data.size == 0 or data.size != len(data) * IMAGE_VALUES:
        raise _BadBatch(f"data has shape {data.shape}, expected (N, {IMAGE_VALUES}) with N > 0")
    if data.dtype != np.uint8 and (data.min() < 0 or data.max() > 255):
        raise _BadBatch(f"data holds values {data.min()}..{data.max()}, expected 0..255")
    if not isinstance(labels, (list, tuple, np.ndarray)):
        raise _BadBatch(f"labels is a {type(labels).__name__}, expected a list of integers")
    try:
        labels = np.asarray(labels)
    except ValueError:  # a ragged list
        raise _BadBatch("labels is not a flat list of integers") from None
    if labels.ndim != 1 or labels.dtype.kind not in "ui":
        raise _BadBatch(f"labels is not a flat list of integers (got {labels.dtype}, shape {labels.shape})")
    if len(labels) != len(data):
        raise _BadBatch(f"holds {len(data)} images but {len(labels)} labels")
    if labels.min() < 0 or labels.max() > 9:
        bad = labels[(labels < 0) | (labels > 9)][0]
        raise _BadBatch(f"has label {bad}, expected 0..9")
    return data.reshape(len(data), IMAGE_VALUES).astype(np.uint8, copy=False), labels.astype(np.int64)


def _read_batch(filename):
    """(images uint8 (N, 3072), labels int64 (N,)) of one batch file, or a DataError naming it."""
    if not os.path.isfile(filename):
        raise DataMissingError(f"{filename} not found; fetch CIFAR-10 with `sh data/get_data.sh`")
    try:
        if os.path.getsize(filename) == 0:
            raise _BadBatch("is empty")
        with open(filename, "rb") as f:
            return _checked(_BatchUnpickler(f, encoding="bytes").load())
    except _BadBatch as error:
        problem = str(error)
    except OSError as error:
        problem = f"cannot be read ({error.strerror or error})"
    except Exception as error:  # a damaged pickle fails in many ways: EOFError, UnpicklingError, ValueError, ...
        problem = f"is not a CIFAR-10 batch ({type(error).__name__}: {error})"
    problem = " ".join(problem.split())  # one line, whatever the underlying message says
    raise DataError(f"{filename}: {problem}; {FETCH_HINT}")


def batches_folder(path):
    """`path` itself, or `path`/cifar-10-batches-py when it exists (torchvision's `root` convention)."""
    nested = os.path.join(path, FOLDER_NAME)
    return nested if os.path.isdir(nested) else path


def load_split(folder, train=True):
    """One split of CIFAR-10: images uint8 (N, 32, 32, 3) and labels int64 (N,), in file order; DataError
    (DataMissingError, also a FileNotFoundError, for a missing file) when a batch is not what CIFAR-10 holds."""
    images, labels = zip(*(_read_batch(os.path.join(folder, name)) for name in _BATCH_FILES[train]))
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
