"""main.py as a user runs it: bad input ends with one line on stderr, exit status 2 and no traceback.

Each case is a separate process (a fresh Python and torch), all started together to share the wait.
"""
import os
import tempfile
import unittest

from tests.helpers import PART2, start_main

GOOD = os.path.join(PART2, "configs", "config_twolayer.yaml")


class BadInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.TemporaryDirectory()
        negative = os.path.join(cls.folder.name, "negative.yaml")
        with open(GOOD) as source, open(negative, "w") as target:
            target.write(source.read().replace("learning_rate: 0.1", "learning_rate: -0.1"))
        cases = {
            "negative learning rate": ["--config", negative],
            "missing config": ["--config", os.path.join(cls.folder.name, "absent.yaml")],
            "bad override": ["--config", GOOD, "--epochs", "two"],
            "unknown flag": ["--config", GOOD, "--epoch", "2"],
            "missing data": ["--config", GOOD, "--data-dir", cls.folder.name],
        }
        processes = {name: start_main(arguments, cwd=cls.folder.name) for name, arguments in cases.items()}
        cls.results = {}
        for name, process in processes.items():
            out, err = process.communicate(timeout=120)
            cls.results[name] = (process.returncode, out, err)

    @classmethod
    def tearDownClass(cls):
        cls.folder.cleanup()

    def assert_one_line_error(self, case, *fragments):
        status, out, err = self.results[case]
        self.assertEqual(status, 2, err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertNotIn("Traceback", err + out)
        self.assertTrue(err.startswith("main.py: error: "), err)
        for fragment in fragments:
            self.assertIn(fragment, err)

    def test_negative_learning_rate(self):
        self.assert_one_line_error("negative learning rate", "Train.learning_rate", "-0.1", "a number > 0")

    def test_missing_config(self):
        self.assert_one_line_error("missing config", "absent.yaml")

    def test_bad_override(self):
        self.assert_one_line_error("bad override", "Train.epochs", "'two'", "an integer >= 1")

    def test_unknown_flag(self):
        self.assert_one_line_error("unknown flag", "--epoch")

    def test_missing_data(self):
        self.assert_one_line_error("missing data", "data_batch_1", "get_data.sh")


if __name__ == "__main__":
    unittest.main()
