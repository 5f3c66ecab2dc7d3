import errno
import inspect
import os
import pickle
import tempfile
import unittest
from unittest import mock

import numpy as np

from data import DataError, generate_batched_data, get_CIFAR10_data, load_CIFAR10, load_CIFAR_batch
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
        _, _, X_test_all, y_test_all = load_CIFAR10(self.root)  # the first num_test test images
        np.testing.assert_array_equal(y_test, y_test_all[:5])
        np.testing.assert_allclose(X_test[4], (X_test_all[4] - X_all[:90].mean(0)).transpose(2, 0, 1))

    def test_defaults_are_the_kits(self):
        def defaults(function):
            return {p.name: p.default for p in inspect.signature(function).parameters.values()
                    if p.default is not p.empty}
        self.assertEqual(defaults(get_CIFAR10_data), dict(num_training=49000, num_validation=1000, num_test=1000))
        self.assertEqual(defaults(generate_batched_data), dict(batch_size=10, shuffle=True))
        data = np.arange(25)
        np.random.seed(0)
        batches, _ = generate_batched_data(data.reshape(25, 1), data)
        self.assertFalse(np.array_equal(np.concatenate(batches).ravel(), data))  # shuffled by default

    def test_counts_outside_cifar10_are_refused(self):
        # 0 training images gave a NaN mean image; a negative count sliced from the end
        for counts, named in ((dict(num_training=0), "num_training >= 1"), (dict(num_training=-5), "num_training"),
                              (dict(num_validation=-1), "num_validation >= 0"),
                              (dict(num_training=49001), "at most 50000"), (dict(num_test=0), "num_test"),
                              (dict(num_test=10001), "num_test <= 10000"), (dict(num_test=-3), "num_test")):
            with self.subTest(**counts):
                with self.assertRaisesRegex(ValueError, named):
                    get_CIFAR10_data(self.root, **counts)

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


class RunsCode:
    """Unpickling this would run a shell command that creates `marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'echo ran > "{self.marker}"',)


def batch(images=4, labels=None, dtype=np.uint8, width=3072, bytes_keys=False):
    """A batch dict like the real ones (str keys, as a latin1 load reads Python 2's, or bytes keys)."""
    data_key, labels_key = (b"data", b"labels") if bytes_keys else ("data", "labels")
    return {data_key: np.zeros((images, width), dtype=dtype),
            labels_key: list(range(images)) if labels is None else labels}


class AsksForBytes:
    """Pickles as builtins.bytes(n)."""

    def __init__(self, n):
        self.n = n

    def __reduce__(self):
        return bytes, (self.n,)


class TestBadBatches(unittest.TestCase):
    """Every malformed batch file is one DataError whose one-line message names the file and the fetch script."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, content, name="data_batch_1", protocol=2):
        path = os.path.join(self.tmp.name, name)
        with open(path, "wb") as f:
            f.write(content if isinstance(content, bytes) else pickle.dumps(content, protocol=protocol))
        return path

    def assert_refused(self, path, *fragments):
        with self.assertRaises(DataError) as caught:
            load_CIFAR_batch(path)
        message = str(caught.exception)
        self.assertNotIn("\n", message)
        for fragment in (path, "get_data.sh", *fragments):
            self.assertIn(fragment, message)

    def test_a_folder_this_user_may_not_read_is_a_permission_problem_not_a_missing_file(self):
        path = self.write({"data": np.zeros((1, 3072), np.uint8), "labels": [0]})
        with mock.patch("os.stat", side_effect=PermissionError(errno.EACCES, "Permission denied", path)):
            with self.assertRaises(DataError) as caught:
                load_CIFAR_batch(path)
        self.assertNotIsInstance(caught.exception, FileNotFoundError)
        self.assertEqual(str(caught.exception), f"{path} cannot be read (Permission denied); fix the permissions "
                                                f"of the data folder")

    def test_a_pickle_that_would_run_code_is_refused_unrun(self):
        marker = os.path.join(self.tmp.name, "marker")
        self.assert_refused(self.write({"data": RunsCode(marker), "labels": [0]}), "system")
        self.assertFalse(os.path.exists(marker))

    def test_a_pickle_that_would_run_code_is_refused_unrun_at_protocol_5(self):
        marker = os.path.join(self.tmp.name, "marker")
        self.assert_refused(self.write({"data": RunsCode(marker), "labels": [0]}, protocol=5), "system")
        self.assertFalse(os.path.exists(marker))

    def test_bytes_of_a_size_the_file_asks_for_is_refused_unbuilt(self):
        # bytes(n) builds n zero bytes: a file of a few bytes could ask for any amount of memory
        self.assert_refused(self.write({"data": AsksForBytes(10 ** 9), "labels": [0]}), "bytes(n)")

    def test_a_batch_pickled_at_protocol_5_loads_as_at_protocol_2(self):
        # protocol 5 is Python 3.14's default and pickle.HIGHEST_PROTOCOL: numpy writes arrays through _frombuffer
        content = batch(images=6, labels=[3, 1, 4, 1, 5, 9])
        content["data"][:] = np.random.default_rng(0).integers(0, 256, content["data"].shape)
        X2, y2 = load_CIFAR_batch(self.write(content, "protocol_2"))
        X5, y5 = load_CIFAR_batch(self.write(content, "protocol_5", protocol=5))
        np.testing.assert_array_equal(X5, X2)
        np.testing.assert_array_equal(y5, y2)
        self.assertEqual(y5.tolist(), [3, 1, 4, 1, 5, 9])

    def test_random_bytes_empty_and_truncated_files(self):
        self.assert_refused(self.write(np.random.default_rng(0).bytes(5000)), "not a CIFAR-10 batch")
        self.assert_refused(self.write(b""), "is empty")
        whole = pickle.dumps(batch(), protocol=2)
        self.assert_refused(self.write(whole[:len(whole) // 2]), "not a CIFAR-10 batch")

    def test_wrong_objects(self):
        self.assert_refused(self.write([1, 2, 3]), "holds a list")
        self.assert_refused(self.write({"data": np.zeros((2, 3072), np.uint8)}), "'labels'")
        self.assert_refused(self.write({"data": b"\0" * 3072, "labels": [0]}), "data is a bytes")

    def test_lengths_and_labels(self):
        self.assert_refused(self.write(batch(images=4, labels=[0, 1, 2])), "4 images but 3 labels")
        self.assert_refused(self.write(batch(images=0, labels=[])), "N > 0")
        self.assert_refused(self.write(batch(labels=[0, 1, 2, 10])), "label 10")
        self.assert_refused(self.write(batch(labels=[0, -1, 2, 3])), "label -1")
        self.assert_refused(self.write(batch(labels=[0, 1.5, 2, 3])), "integers")
        self.assert_refused(self.write(batch(labels="0123")), "labels is a str")

    def test_dtype_and_shape(self):
        self.assert_refused(self.write(batch(dtype=np.float32)), "float32")
        self.assert_refused(self.write(batch(width=3071)), "(4, 3071)")
        wide = batch(dtype=np.int64)
        wide["data"][0, 0] = 256
        self.assert_refused(self.write(wide), "0..256")

    def test_missing_file_names_it(self):
        with self.assertRaises(FileNotFoundError) as caught:
            load_CIFAR_batch(os.path.join(self.tmp.name, "data_batch_9"))
        self.assertIsInstance(caught.exception, DataError)
        self.assertIn("data_batch_9", str(caught.exception))
        self.assertIn("get_data.sh", str(caught.exception))

    def test_bytes_keys_and_integer_data_are_accepted(self):
        X, y = load_CIFAR_batch(self.write(batch(dtype=np.int64, bytes_keys=True)))
        self.assertEqual((X.shape, X.dtype, y.tolist()), ((4, 32, 32, 3), np.float64, [0, 1, 2, 3]))


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
