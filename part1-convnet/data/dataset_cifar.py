"""Loading CIFAR-10 from the python batches (cifar-10-batches-py) into numpy arrays.

Each batch file is read and checked by data/cifar_batches.py (safely: a pickle can run code); every problem with
a file is a DataError whose one-line message names the file and the fix.
"""
import os

import numpy as np

from .cifar_batches import DataError, DataMissingError, read_batch

TRAINING_IMAGES, TEST_IMAGES = 50000, 10000  # in CIFAR-10's five training batches and its test batch


def load_CIFAR_batch(filename):
    """One batch file -> (X (N, 32, 32, 3) float64, y (N,) int64); DataError when the file is not a CIFAR batch."""
    images, y = read_batch(filename)
    X = images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float64)
    return X, y


def load_CIFAR10(root):
    """All of CIFAR-10 -> (X_train, y_train, X_test, y_test), images NHWC float64."""
    if not os.path.isfile(os.path.join(root, "test_batch")):
        raise DataMissingError(f"CIFAR-10 not found in {root}; run data/get_data.sh (or data\\get_data.bat) first")
    train = [load_CIFAR_batch(os.path.join(root, f"data_batch_{b}")) for b in range(1, 6)]
    X_train = np.concatenate([X for X, _ in train])
    y_train = np.concatenate([y for _, y in train])
    X_test, y_test = load_CIFAR_batch(os.path.join(root, "test_batch"))
    return X_train, y_train, X_test, y_test


def get_CIFAR10_data(root, num_training=49000, num_validation=1000, num_test=1000):
    """Train [0, num_training), validation the next num_validation, the first num_test test images;
    the mean training image subtracted from all three, and images transposed to NCHW."""
    # checked before loading: no training image gives a NaN mean, and a negative count would slice from the end
    if not (1 <= num_training and 0 <= num_validation and num_training + num_validation <= TRAINING_IMAGES):
        raise ValueError(f"get_CIFAR10_data needs num_training >= 1, num_validation >= 0 and their sum at most "
                         f"{TRAINING_IMAGES}, got {num_training} and {num_validation}")
    if not 1 <= num_test <= TEST_IMAGES:
        raise ValueError(f"get_CIFAR10_data needs 1 <= num_test <= {TEST_IMAGES}, got {num_test}")
    X_train, y_train, X_test, y_test = load_CIFAR10(root)
    X_val = X_train[num_training:num_training + num_validation]
    y_val = y_train[num_training:num_training + num_validation]
    X_train, y_train = X_train[:num_training], y_train[:num_training]
    X_test, y_test = X_test[:num_test], y_test[:num_test]
    mean_image = X_train.mean(axis=0)
    X_train, X_val, X_test = (np.ascontiguousarray((X - mean_image).transpose(0, 3, 1, 2))
                              for X in (X_train, X_val, X_test))
    return X_train, y_train, X_val, y_val, X_test, y_test


def generate_batched_data(data, label, batch_size=10, shuffle=True):
    """Split (data, label) into lists of batches of batch_size (the last may be smaller), shuffled together."""
    order = np.random.permutation(len(data)) if shuffle else np.arange(len(data))
    starts = range(0, len(data), batch_size)
    batched_data = [data[order[i:i + batch_size]] for i in starts]
    batched_label = [label[order[i:i + batch_size]] for i in starts]
    return batched_data, batched_label
