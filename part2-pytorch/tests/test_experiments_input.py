"""experiments.py given bad input: a --set that clashes with some run. It is one line on stderr and exit
status 2, before any run starts."""
import contextlib
import io
import os
import tempfile
import unittest
from unittest import mock

import config
import experiments
import grids
from tests.helpers import write_cifar_folder

def run_cli(*arguments):
    """(exit status, stdout, stderr) of experiments.main_cli in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = experiments.main_cli(list(arguments))
        except SystemExit as exit:  # argparse's errors
            status = exit.code
    return status, out.getvalue(), err.getvalue()


class InScratchFolder(unittest.TestCase):
    """Each test in its own temporary folder, the current one, so that run folders would land there; the tests'
    grids offered."""

    def setUp(self):
        self.enterContext(mock.patch.dict(os.environ, {grids.TEST_GRIDS_VARIABLE: "1"}))
        temporary = tempfile.TemporaryDirectory()
        self.addCleanup(temporary.cleanup)
        self.tmp = temporary.name
        self.addCleanup(os.chdir, os.getcwd())
        os.chdir(self.tmp)
        self.results = os.path.join(self.tmp, "results", "longtail.csv")
        os.makedirs(os.path.dirname(self.results))

    def assert_one_line(self, status, err, *parts, code=2):
        self.assertEqual(status, code, err)
        self.assertEqual(err.count("\n"), 1, err)
        self.assertTrue(err.startswith("experiments.py: error: "), err)
        self.assertNotIn("Traceback", err)
        for part in parts:
            self.assertIn(part, err)


class SettingsOfEveryRun(InScratchFolder):
    """Every run's complete settings are checked before the first run starts; a clash names the --set."""

    def test_a_set_that_only_some_runs_refuse(self):
        for grid in ("micro", "cpu", "resnet32-cpu-drw"):  # the last one's own config has a focal loss
            with self.subTest(grid=grid), self.assertRaises(config.ConfigError) as caught:
                grids.grid_runs(grid, [("epochs", 2), ("label_smoothing", 0.1)])
            message = str(caught.exception)
            self.assertTrue(message.startswith("command line: --set label_smoothing=0.1 conflicts with the grid's "
                                               "Focal run"), message)
            self.assertIn("is not allowed with loss_type Focal", message)
            self.assertNotIn(".yaml", message)
            self.assertNotIn("epochs=2", message)

    def test_two_sets_that_clash_are_both_named(self):
        with self.assertRaisesRegex(config.ConfigError, r"^command line: --set nesterov=true, --set momentum=0 "
                                                        r"conflict with the grid's CE run"):
            grids.grid_runs("cpu", [("nesterov", True), ("epochs", 2), ("momentum", 0)])

    def test_nothing_runs(self):
        data = write_cifar_folder(self.tmp)[0]
        status, out, err = run_cli("--grid", "micro", "--workers", "1", "--data-dir", data, "--results",
                                   self.results, "--set", "label_smoothing=0.1")
        self.assert_one_line(status, err, "--set label_smoothing=0.1 conflicts")
        self.assertEqual(out, "")
        self.assertEqual(sorted(os.listdir(self.tmp)), ["cifar-10-batches-py", "results"])
        self.assertEqual(os.listdir(os.path.dirname(self.results)), [])

if __name__ == "__main__":
    unittest.main()
