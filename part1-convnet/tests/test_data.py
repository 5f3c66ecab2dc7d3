import os
import tempfile
import unittest

import numpy as np

from data import generate_batched_data, get_CIFAR10_data, load_CIFAR10, load_CIFAR_batch
from tests.synthetic_cifar import write_synthetic_cifar

REAL_DATA = os.path.join(os.path.dirname(__file__), "..", "data", "cifar-10-batches-py")
HAVE_REAL_DATA = os.path.isfile(os.path.join(REAL_DATA, "test_batch"))


class TestSyntheticCifar(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = write_synthetic_cifar(self.tmp.name, images_per_batch=20)

    def tearDown(self):
        self.tmp.cleanup()

    def test_load_batch_layout(self):
        X, y = load_CIFAR_batch(os.path.join(self.root, "data_batch_1"))
        self.assertEqual((X.shape, X.dtype, y.shape), ((20, 32, 32, 3), np.float64, (20,)))
        import pickle
        with open(os.path.join(self.root, "data_batch_1"), "rb") as f:
            raw = pickle.load(f, encoding="latin1")["data"]
        # row layout is R plane, G plane, B plane, each 32x32 row-major
        self.assertEqual(X[0, 0, 1, 2], raw[0, 1024 * 2 + 1])
        self.assertEqual(X[0, 31, 31, 0], raw[0, 1023])

    def test_get_cifar10_data_splits_and_centres(self):
        X_train, y_train, X_val, y_val, X_test, y_test = get_CIFAR10_data(
            self.root, num_training=90, num_validation=10, num_test=5)
        self.assertEqual([a.shape[0] for a in (X_train, y_train, X_val, y_val, X_test, y_test)], [90, 90, 10, 10, 5, 5])
        self.assertEqual(X_train.shape[1:], (3, 32, 32))
        np.testing.assert_allclose(X_train.mean(axis=0), 0, atol=1e-9)
        X_all, y_all, _, _ = load_CIFAR10(self.root)
        np.testing.assert_array_equal(y_val, y_all[90:100])
        np.testing.assert_allclose(X_val[0], (X_all[90] - X_all[:90].mean(0)).transpose(2, 0, 1))

    def test_missing_folder_names_the_script(self):
        with self.assertRaisesRegex(FileNotFoundError, "get_data"):
            load_CIFAR10(os.path.join(self.tmp.name, "nowhere"))

    def test_generate_batched_data(self):
        data, labels = np.arange(25).reshape(25, 1), np.arange(25)
        batches, batch_labels = generate_batched_data(data, labels, batch_size=10, shuffle=True)
        self.assertEqual([len(b) for b in batches], [10, 10, 5])
        np.testing.assert_array_equal(np.sort(np.concatenate(batches)[:, 0]), labels)
        for b, l in zip(batches, batch_labels):
            np.testing.assert_array_equal(b[:, 0], l)
        ordered, _ = generate_batched_data(data, labels, batch_size=10, shuffle=False)
        np.testing.assert_array_equal(ordered[1][:, 0], np.arange(10, 20))


@unittest.skipUnless(HAVE_REAL_DATA, "CIFAR-10 not found in data/cifar-10-batches-py; run data/get_data.sh")
class TestRealCifar(unittest.TestCase):
    def test_real_split(self):
        X_train, y_train, X_test, y_test = load_CIFAR10(REAL_DATA)
        self.assertEqual((X_train.shape, X_test.shape), ((50000, 32, 32, 3), (10000, 32, 32, 3)))
        np.testing.assert_array_equal(np.bincount(y_train), [5000] * 10)
        np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)
        self.assertTrue(0 <= X_train.min() and X_train.max() <= 255)


if __name__ == "__main__":
    unittest.main()
