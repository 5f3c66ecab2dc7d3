import os
import subprocess
import sys
import tempfile
import unittest

from tests.test_data import HAVE_REAL_DATA, REAL_DATA
from tests.synthetic_cifar import write_synthetic_cifar

PART1 = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(PART1, "train.py")


def run_train(cwd):
    return subprocess.run([sys.executable, TRAIN], cwd=cwd, capture_output=True, text=True, timeout=300)


class TestTrainScript(unittest.TestCase):
    def test_end_to_end_on_synthetic_data(self):
        with tempfile.TemporaryDirectory() as tmp:
            write_synthetic_cifar(os.path.join(tmp, "data"), images_per_batch=20)
            result = run_train(tmp)
            self.assertEqual(result.returncode, 0, result.stderr)
            lines = result.stdout.splitlines()
            self.assertEqual(sum(line.startswith("epoch") for line in lines), 11)  # first iteration + 10 epochs
            self.assertTrue(os.path.getsize(os.path.join(tmp, "train.png")) > 1000)

    def test_missing_data_is_one_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            result = run_train(tmp)
        self.assertEqual(result.returncode, 2)
        self.assertNotIn("Traceback", result.stderr)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1)
        self.assertIn("get_data", result.stderr)

    @unittest.skipUnless(HAVE_REAL_DATA, "CIFAR-10 not found in data/cifar-10-batches-py; run data/get_data.sh")
    def test_real_data_reaches_slightly_under_090(self):
        with tempfile.TemporaryDirectory() as tmp:
            os.makedirs(os.path.join(tmp, "data"))
            os.symlink(os.path.abspath(REAL_DATA), os.path.join(tmp, "data", "cifar-10-batches-py"))
            result = run_train(tmp)
        self.assertEqual(result.returncode, 0, result.stderr)
        final = float(result.stdout.split("final training accuracy ")[1].split(";")[0])
        self.assertGreaterEqual(final, 0.8)
        self.assertLess(final, 0.9)


if __name__ == "__main__":
    unittest.main()
