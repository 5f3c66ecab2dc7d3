"""A tiny cifar-10-batches-py folder in the real file format, for tests that must not need the real data."""
import os
import pickle

import numpy as np


def write_synthetic_cifar(root, images_per_batch=20, seed=0):
    """Write data_batch_1..5 and test_batch under root/cifar-10-batches-py; returns that folder.

    Labels cycle 0..9; each image's mean brightness grows with its label, so the classes are learnable."""
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = [int(v) for v in rng.permutation(np.arange(images_per_batch) % 10)]
        data = rng.integers(0, 50, (images_per_batch, 3072)) + 20 * np.array(labels)[:, None]
        batch = {"batch_label": name, "labels": labels, "data": data.astype(np.uint8),
                 "filenames": [f"{name}_{i}.png" for i in range(images_per_batch)]}
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump(batch, f, protocol=2)  # the real files are Python-2 pickles
    with open(os.path.join(folder, "batches.meta"), "wb") as f:
        pickle.dump({"label_names": [str(i) for i in range(10)]}, f, protocol=2)
    return folder
