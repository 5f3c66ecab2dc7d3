import errno
import inspect
import os
import pickle
import tempfile
import unittest
from unittest import mock

import numpy as np
from PIL import Image

from data import IMBALANCECIFAR10, Cifar, DataError, load_split
from tests.helpers import REAL_DATA, write_cifar_folder

CONTRACT_COUNTS = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


class SmallImbalance(IMBALANCECIFAR10):
    img_max = 30  # the synthetic folder has 30 images per class


class SyntheticFolder(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.temporary = tempfile.TemporaryDirectory()
        cls.folder, cls.labels, cls.images = write_cifar_folder(cls.temporary.name, train_per_class=30)

    @classmethod
    def tearDownClass(cls):
        cls.temporary.cleanup()


class CifarDataset(SyntheticFolder):
    def test_reads_every_image_in_file_order_as_hwc_uint8(self):
        train = Cifar(self.folder)
        self.assertEqual((train.data.shape, train.data.dtype), ((300, 32, 32, 3), np.uint8))
        self.assertEqual(train.targets, self.labels.tolist())
        np.testing.assert_array_equal(train.data, self.images.transpose(0, 2, 3, 1))  # CHW planes -> HWC
        self.assertEqual(len(Cifar(self.folder, train=False)), 100)

    def test_accepts_the_parent_folder_too(self):
        self.assertEqual(len(Cifar(os.path.dirname(self.folder))), 300)

    def test_items_are_pil_images_through_the_transform(self):
        image, label = Cifar(self.folder)[7]
        self.assertIsInstance(image, Image.Image)
        self.assertEqual((image.size, label), ((32, 32), int(self.labels[7])))
        np.testing.assert_array_equal(np.asarray(image), self.images[7].transpose(1, 2, 0))
        array, _ = Cifar(self.folder, transform=np.asarray)[7]
        self.assertEqual(array.shape, (32, 32, 3))

    def test_samples_balanced_round_robin_or_first_n(self):
        counts = np.bincount(Cifar(self.folder, samples=25).targets, minlength=10)
        self.assertEqual(counts.tolist(), [3] * 5 + [2] * 5)
        balanced = Cifar(self.folder, samples=20)
        first_two = np.concatenate([np.flatnonzero(self.labels == c)[:2] for c in range(10)])
        np.testing.assert_array_equal(balanced.data, self.images[np.sort(first_two)].transpose(0, 2, 3, 1))
        self.assertEqual(Cifar(self.folder, samples=25, balance=False).targets, self.labels[:25].tolist())
        for samples in (0, 301):  # an empty set would fail later, in the first epoch
            with self.subTest(samples=samples), self.assertRaises(ValueError):
                Cifar(self.folder, samples=samples)

    def test_missing_folder_names_the_fetch_script(self):
        with self.assertRaises(FileNotFoundError) as caught:
            Cifar(os.path.join(self.folder, "absent"))
        self.assertIn("get_data.sh", str(caught.exception))

    def test_refuses_pickles_that_would_run_code(self):
        with tempfile.TemporaryDirectory() as folder:
            with open(os.path.join(folder, "test_batch"), "wb") as f:
                f.write(b"cos\nsystem\n(S'echo unsafe'\ntR.")  # a pickle calling os.system
            with self.assertRaises(DataError) as caught:
                Cifar(folder, train=False)
            self.assertIn("os.system", str(caught.exception))


class RunsCode:
    """Unpickling this would run a shell command that creates `marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'echo ran > "{self.marker}"',)


class AsksForBytes:
    """Pickles as builtins.bytes(n)."""

    def __init__(self, n):
        self.n = n

    def __reduce__(self):
        return bytes, (self.n,)


def batch(images=4, labels=None, dtype=np.uint8, width=3072, str_keys=False):
    """A batch dict like the real ones (bytes keys, as a bytes-decoding load reads Python 2's, or str keys)."""
    data_key, labels_key = ("data", "labels") if str_keys else (b"data", b"labels")
    return {data_key: np.zeros((images, width), dtype=dtype),
            labels_key: list(range(images)) if labels is None else labels}


class BadBatches(unittest.TestCase):
    """Every malformed batch file is one DataError whose one-line message names the file and the fetch script."""

    def setUp(self):
        self.temporary = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.temporary.name, "test_batch")

    def tearDown(self):
        self.temporary.cleanup()

    def write(self, content, protocol=2):
        with open(self.path, "wb") as f:
            f.write(content if isinstance(content, bytes) else pickle.dumps(content, protocol=protocol))

    def assert_refused(self, content, *fragments):
        self.write(content)
        with self.assertRaises(DataError) as caught:
            load_split(self.temporary.name, train=False)
        message = str(caught.exception)
        self.assertNotIn("\n", message)
        for fragment in (self.path, "get_data.sh", *fragments):
            self.assertIn(fragment, message)

    def test_a_pickle_that_would_run_code_is_refused_unrun(self):
        marker = os.path.join(self.temporary.name, "marker")
        self.assert_refused({b"data": RunsCode(marker), b"labels": [0]}, "system")
        self.assertFalse(os.path.exists(marker))

    def test_at_protocol_5_a_batch_loads_and_code_is_still_refused(self):
        # protocol 5, Python 3.14's default and pickle.HIGHEST_PROTOCOL, writes arrays through numpy's _frombuffer
        content = batch(labels=[3, 1, 4, 1])
        content[b"data"][:] = np.arange(4 * 3072).reshape(4, 3072) % 251
        self.write(content, protocol=5)
        images, labels = load_split(self.temporary.name, train=False)
        np.testing.assert_array_equal(images, content[b"data"].reshape(4, 3, 32, 32).transpose(0, 2, 3, 1))  # NHWC
        self.assertEqual(labels.tolist(), [3, 1, 4, 1])
        marker = os.path.join(self.temporary.name, "marker")
        self.write({b"data": RunsCode(marker), b"labels": [0]}, protocol=5)
        with self.assertRaises(DataError):
            load_split(self.temporary.name, train=False)
        self.assertFalse(os.path.exists(marker))

    def test_bytes_of_a_size_the_file_asks_for_is_refused_unbuilt(self):
        # bytes(n) builds n zero bytes: a file of a few bytes could ask for any amount of memory
        self.assert_refused({b"data": AsksForBytes(10 ** 9), b"labels": [0]}, "bytes(n)")

    def test_random_bytes_empty_and_truncated_files(self):
        self.assert_refused(np.random.default_rng(0).bytes(5000), "not a CIFAR-10 batch")
        self.assert_refused(b"", "is empty")
        whole = pickle.dumps(batch(), protocol=2)
        self.assert_refused(whole[:len(whole) // 2], "not a CIFAR-10 batch")

    def test_wrong_objects(self):
        self.assert_refused([1, 2, 3], "holds a list")
        self.assert_refused({b"data": np.zeros((2, 3072), np.uint8)}, "'labels'")
        self.assert_refused({b"data": b"\0" * 3072, b"labels": [0]}, "data is a bytes")

    def test_lengths_and_labels(self):
        self.assert_refused(batch(images=4, labels=[0, 1, 2]), "4 images but 3 labels")
        self.assert_refused(batch(images=0, labels=[]), "N > 0")
        self.assert_refused(batch(labels=[0, 1, 2, 10]), "label 10")
        self.assert_refused(batch(labels=[0, -1, 2, 3]), "label -1")
        self.assert_refused(batch(labels=[0, 1.5, 2, 3]), "integers")

    def test_dtype_and_shape(self):
        self.assert_refused(batch(dtype=np.float32), "float32")
        self.assert_refused(batch(width=3071), "(4, 3071)")
        wide = batch(dtype=np.int64)
        wide[b"data"][0, 0] = 256
        self.assert_refused(wide, "0..256")

    def test_missing_file_is_also_a_file_not_found_error(self):
        with self.assertRaises(FileNotFoundError) as caught:
            load_split(self.temporary.name, train=False)
        self.assertIsInstance(caught.exception, DataError)
        self.assertIn(self.path, str(caught.exception))

    def test_a_folder_or_a_pipe_in_a_batch_files_place_is_named_as_such(self):
        os.mkdir(self.path)
        with self.assertRaisesRegex(DataError, "test_batch is not a file; fetch CIFAR-10 again"):
            load_split(self.temporary.name, train=False)
        if hasattr(os, "mkfifo"):
            os.rmdir(self.path)
            os.mkfifo(self.path)  # opening it would wait for a writer
            with self.assertRaisesRegex(DataError, "test_batch is not a file"):
                load_split(self.temporary.name, train=False)

    def test_a_folder_this_user_may_not_read_is_a_permission_problem_not_a_missing_file(self):
        real_stat = os.stat

        def denied(path, *args, **kwargs):  # as os.stat fails inside a folder without read/search permission
            if os.fspath(path) == self.path:
                raise PermissionError(errno.EACCES, "Permission denied", path)
            return real_stat(path, *args, **kwargs)
        self.write(batch())
        with mock.patch("os.stat", denied):
            with self.assertRaises(DataError) as caught:
                load_split(self.temporary.name, train=False)
        self.assertNotIsInstance(caught.exception, FileNotFoundError)
        self.assertEqual(str(caught.exception), f"{self.path} cannot be read (Permission denied); fix the "
                                                f"permissions of the data folder")
        a_file = os.path.join(self.temporary.name, "notes.txt")  # given as the data folder
        with open(a_file, "w") as f:
            f.write("not the batches")
        with self.assertRaises(FileNotFoundError) as caught:  # a file where the folder should be: nothing there
            load_split(a_file, train=False)
        self.assertEqual(str(caught.exception), f"{a_file} is a file, not the folder of the batches; give the "
                                                f"cifar-10-batches-py folder")

    def test_str_keys_and_integer_data_are_accepted(self):
        self.write(batch(dtype=np.int64, str_keys=True))
        images, labels = load_split(self.temporary.name, train=False)
        self.assertEqual((images.shape, images.dtype, labels.tolist()), ((4, 32, 32, 3), np.uint8, [0, 1, 2, 3]))


class ImbalancedCounts(unittest.TestCase):
    def counts(self, imb_type, imb_factor):
        dataset = IMBALANCECIFAR10.__new__(IMBALANCECIFAR10)  # the rule needs no data
        return dataset.get_img_num_per_cls(10, imb_type, imb_factor)

    def test_exp(self):
        self.assertEqual(self.counts("exp", 0.01), CONTRACT_COUNTS)
        self.assertEqual(sum(CONTRACT_COUNTS), 12406)
        self.assertEqual(self.counts("exp", 0.1), [5000, 3871, 2997, 2320, 1796, 1391, 1077, 834, 645, 500])
        self.assertEqual(self.counts("exp", 0.5), [5000, 4629, 4286, 3968, 3674, 3401, 3149, 2916, 2700, 2500])
        self.assertEqual(self.counts("exp", 1.0), [5000] * 10)

    def test_step(self):
        self.assertEqual(self.counts("step", 0.01), [5000] * 5 + [50] * 5)
        self.assertEqual(self.counts("step", 0.1), [5000] * 5 + [500] * 5)

    def test_anything_else_is_uniform(self):
        self.assertEqual(self.counts("none", 0.01), [5000] * 10)

    def test_contract_attributes(self):
        self.assertEqual(IMBALANCECIFAR10.cls_num, 10)


class ImbalancedSelection(SyntheticFolder):
    def expected_indices(self, counts, rand_number):
        """The kit's rule written out: shuffle each class's indices with numpy seeded by rand_number, keep the first
        n."""
        np.random.seed(rand_number)
        kept = []
        for label, count in enumerate(counts):
            indices = np.where(self.labels == label)[0]
            np.random.shuffle(indices)
            kept.append(indices[:count])
        return np.concatenate(kept)

    def test_exp_and_step_selection(self):
        for imb_type, counts in (("exp", [30, 23, 17, 13, 10, 8, 6, 5, 3, 3]), ("step", [30] * 5 + [3] * 5)):
            with self.subTest(imb_type=imb_type):
                dataset = SmallImbalance(self.folder, imb_type=imb_type, imb_factor=0.1, rand_number=3)
                self.assertEqual(dataset.get_cls_num_list(), counts)
                self.assertEqual(np.bincount(dataset.targets, minlength=10).tolist(), counts)
                kept = self.expected_indices(counts, 3)
                np.testing.assert_array_equal(dataset.data, self.images[kept].transpose(0, 2, 3, 1))
                self.assertEqual(dataset.targets, self.labels[kept].tolist())

    def test_selection_depends_only_on_rand_number(self):
        first = SmallImbalance(self.folder, imb_factor=0.1, rand_number=5)
        np.random.rand(7)  # whatever numpy drew in between
        again = SmallImbalance(self.folder, imb_factor=0.1, rand_number=5)
        other = SmallImbalance(self.folder, imb_factor=0.1, rand_number=6)
        np.testing.assert_array_equal(first.data, again.data)
        self.assertFalse(np.array_equal(first.data, other.data))
        self.assertEqual(first.get_cls_num_list(), other.get_cls_num_list())

    def test_seeds_numpy_as_the_kit_does(self):
        dataset = SmallImbalance(self.folder, imb_factor=0.1, rand_number=4)
        after_ours = np.random.rand(3)
        self.expected_indices(dataset.get_cls_num_list(), 4)
        np.testing.assert_array_equal(after_ours, np.random.rand(3))  # the global generator left where the kit's is

        images, labels = dataset.data, np.asarray(dataset.targets)
        np.random.seed(9)  # gen_imbalanced_data draws from numpy's global generator, as the kit's does
        dataset.gen_imbalanced_data([2] * 10)
        np.random.seed(9)
        kept = np.concatenate([np.random.permutation(np.flatnonzero(labels == label))[:2] for label in range(10)])
        np.testing.assert_array_equal(dataset.data, images[kept])
        self.assertEqual(dataset.targets, labels[kept].tolist())

    def test_defaults_are_the_kits(self):
        def defaults(cls):
            return {p.name: p.default for p in inspect.signature(cls).parameters.values() if p.default is not p.empty}
        self.assertEqual(defaults(IMBALANCECIFAR10), dict(imb_type="exp", imb_factor=0.01, rand_number=0, train=True,
                                                          transform=None, target_transform=None, download=False))
        self.assertEqual(defaults(Cifar), dict(path="data/cifar-10-batches-py/", transform=None, train=True,
                                               samples=None, balance=True))
        dataset = SmallImbalance(self.folder)  # exp, 100:1, rand_number 0
        counts = [int(30 * 0.01 ** (i / 9)) for i in range(10)]
        self.assertEqual(dataset.get_cls_num_list(), counts)
        self.assertEqual(dataset.targets, self.labels[self.expected_indices(counts, 0)].tolist())

    def test_gen_imbalanced_data_keeps_what_exists(self):
        dataset = SmallImbalance(self.folder, imb_factor=1.0)
        dataset.gen_imbalanced_data([40, 2, 1, 0, 30, 30, 30, 30, 30, 30])
        self.assertEqual(dataset.get_cls_num_list(), [30, 2, 1, 0, 30, 30, 30, 30, 30, 30])
        self.assertEqual(len(dataset), 213)

    def test_test_split_and_transforms(self):
        dataset = SmallImbalance(self.folder, train=False, imb_factor=1.0, target_transform=lambda t: t + 100)
        self.assertEqual(len(dataset), 100)
        self.assertGreaterEqual(dataset[0][1], 100)


@unittest.skipUnless(os.path.isdir(REAL_DATA), f"CIFAR-10 is not in {REAL_DATA}; fetch it with sh data/get_data.sh")
class RealData(unittest.TestCase):
    def test_default_long_tailed_counts(self):
        dataset = IMBALANCECIFAR10(REAL_DATA)
        self.assertEqual(dataset.get_cls_num_list(), CONTRACT_COUNTS)
        self.assertEqual(np.bincount(dataset.targets).tolist(), CONTRACT_COUNTS)
        self.assertEqual(dataset.data.shape, (12406, 32, 32, 3))


if __name__ == "__main__":
    unittest.main()
