"""CIFAR-10 data: the kit's Datasets (Cifar, IMBALANCECIFAR10) and the fast on-device batch pipeline."""
from .augment import CIFAR_MEAN, CIFAR_STD, kit_transforms, normalise
from .cifar_batches import DataError
from .dataset_cifar import CLASS_NAMES, IMBALANCECIFAR10, SHORT_CLASS_NAMES, Cifar, load_split
from .device_batches import DeviceBatches

__all__ = ["Cifar", "IMBALANCECIFAR10", "DataError", "DeviceBatches", "CLASS_NAMES", "SHORT_CLASS_NAMES",
           "CIFAR_MEAN", "CIFAR_STD", "kit_transforms", "load_split", "normalise"]
