import contextlib
import errno
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

from tests.script_checks import assert_one_line_error, copy_of_part1, python_handles_ctrl_c, run_on_a_full_disk
from tests.synthetic_cifar import write_synthetic_cifar
from tests.test_data import HAVE_REAL_DATA, REAL_DATA

PART1 = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(PART1, "train.py")
ENVIRONMENT = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
setUpModule = python_handles_ctrl_c  # Python's Ctrl-C handler, even in a suite started in the background


def run_train(cwd, *arguments, train=TRAIN):
    return subprocess.run([sys.executable, train, *arguments], cwd=cwd, env=ENVIRONMENT, capture_output=True,
                          text=True, timeout=300)


def link_or_copy(source, link):
    """A symbolic link at `link` to the folder `source`, or a copy of it where making links needs a right this user
    lacks (Windows without Developer Mode)."""
    try:
        os.symlink(source, link, target_is_directory=True)
    except OSError:
        shutil.copytree(source, link)


def files_in(folder):
    return sorted(os.listdir(folder))


# the course kit's data/ package as graders have it: the contract's four loaders and no other name (our own words)
KIT_DATA_PACKAGE = """
import os, pickle
import numpy as np

def load_CIFAR_batch(filename):
    with open(filename, "rb") as f:
        batch = pickle.load(f, encoding="latin1")
    return batch["data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype("float"), np.array(batch["labels"])

def load_CIFAR10(root):
    parts = [load_CIFAR_batch(os.path.join(root, f"data_batch_{b}")) for b in range(1, 6)]
    return (np.concatenate([X for X, _ in parts]), np.concatenate([y for _, y in parts]),
            *load_CIFAR_batch(os.path.join(root, "test_batch")))

def get_CIFAR10_data(root, num_training=49000, num_validation=1000, num_test=1000):
    X_train, y_train, X_test, y_test = load_CIFAR10(root)
    val = slice(num_training, num_training + num_validation)
    X_val, y_val, X_test, y_test = X_train[val], y_train[val], X_test[:num_test], y_test[:num_test]
    X_train, y_train = X_train[:num_training], y_train[:num_training]
    mean = X_train.mean(axis=0)
    return tuple(a for X, y in ((X_train, y_train), (X_val, y_val), (X_test, y_test))
                 for a in ((X - mean).transpose(0, 3, 1, 2).copy(), y))

def generate_batched_data(data, label, batch_size=10, shuffle=True):
    order = np.random.permutation(len(data)) if shuffle else np.arange(len(data))
    return [data[order[i:i + batch_size]] for i in range(0, len(data), batch_size)], \
           [label[order[i:i + batch_size]] for i in range(0, len(data), batch_size)]
"""


class TestTrainScript(unittest.TestCase):
    def assert_one_line_error(self, result, *fragments):
        assert_one_line_error(self, result, "train.py", *fragments)

    def test_end_to_end_on_synthetic_data(self):
        with tempfile.TemporaryDirectory() as tmp:
            write_synthetic_cifar(os.path.join(tmp, "data"), images_per_batch=20)
            result = run_train(tmp)
            self.assertEqual(result.returncode, 0, result.stderr)
            lines = result.stdout.splitlines()
            self.assertEqual(sum(line.startswith("epoch") for line in lines), 11)  # first iteration + 10 epochs
            self.assertEqual(len(lines), 11)  # and nothing else: the kit grades code that prints more as 0
            self.assertTrue(os.path.getsize(os.path.join(tmp, "train.png")) > 1000)
            self.assertEqual(sorted(os.listdir(tmp)), ["data", "train.png"])  # no temporary figure left

    def test_a_killed_runs_temporary_figure_is_cleared_and_a_live_ones_kept(self):
        with tempfile.TemporaryDirectory() as tmp:
            write_synthetic_cifar(os.path.join(tmp, "data"), images_per_batch=20)
            # mkstemp's names: .train- and 8 random characters; .train-old.png is the user's own
            for name in (".train-k1lled_x.png", ".train-live0000.png", ".train-old.png", ".notes.png"):
                with open(os.path.join(tmp, name), "wb") as f:
                    f.write(b"\x89PNG half a figure")
            for name in (".train-k1lled_x.png", ".train-old.png", ".notes.png"):  # an hour and more ago
                old = os.path.getmtime(os.path.join(tmp, name)) - 3660
                os.utime(os.path.join(tmp, name), (old, old))
            result = run_train(tmp)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(files_in(tmp), [".notes.png", ".train-live0000.png", ".train-old.png", "data",
                                             "train.png"])

    def test_the_graded_files_train_beside_the_kits_own_data_package(self):
        """Graders put the zip's modules/ optimizer/ trainer.py train.py into their kit, whose data/ exports the
        contract's loaders alone: train.py must need no other name from it."""
        with tempfile.TemporaryDirectory() as tmp:
            part = os.path.join(tmp, "kit")
            for folder in ("modules", "optimizer"):
                shutil.copytree(os.path.join(PART1, folder), os.path.join(part, folder),
                                ignore=shutil.ignore_patterns("__pycache__"))
            for name in ("trainer.py", "train.py"):
                shutil.copy(os.path.join(PART1, name), part)
            write_synthetic_cifar(os.path.join(part, "data"), images_per_batch=20)
            with open(os.path.join(part, "data", "__init__.py"), "w") as f:
                f.write(KIT_DATA_PACKAGE)
            result = run_train(part, train=os.path.join(part, "train.py"))
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(sum(line.startswith("epoch") for line in result.stdout.splitlines()), 11)
            self.assertTrue(os.path.getsize(os.path.join(part, "train.png")) > 1000)
            # the kit's data/ raises plain OSError, which must not swallow a closed pipe's (also an OSError)
            child = subprocess.Popen([sys.executable, os.path.join(part, "train.py")], cwd=part, env=ENVIRONMENT,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            child.stdout.close()
            err = child.stderr.read()
            child.stderr.close()
            self.assertEqual((child.wait(timeout=300), err), (1, ""))
            os.remove(os.path.join(part, "data", "cifar-10-batches-py", "data_batch_2"))
            missing = run_train(part, train=os.path.join(part, "train.py"))
        self.assert_one_line_error(missing, "data_batch_2")

    def test_a_closed_pipe_is_told_from_other_errors_on_windows_too(self):
        # Windows reports a write to a pipe whose reader is gone as EINVAL with no file name (CPython issue 79935)
        import train
        for platform, error, gone in [("linux", BrokenPipeError(errno.EPIPE, "Broken pipe"), True),
                                      ("win32", BrokenPipeError(errno.EPIPE, "Broken pipe"), True),
                                      ("win32", OSError(errno.EINVAL, "Invalid argument"), True),
                                      ("linux", OSError(errno.EINVAL, "Invalid argument"), False),
                                      ("win32", OSError(errno.EINVAL, "Invalid argument", "train.png"), False),
                                      ("win32", OSError(errno.ENOSPC, "No space left on device"), False)]:
            with self.subTest(platform=platform, error=repr(error)), mock.patch.object(sys, "platform", platform):
                self.assertEqual(train.reader_went_away(error), gone)

    def test_a_reader_that_is_gone_gets_no_traceback(self):
        with tempfile.TemporaryDirectory() as tmp:
            write_synthetic_cifar(os.path.join(tmp, "data"), images_per_batch=20)
            child = subprocess.Popen([sys.executable, TRAIN], cwd=tmp, env=ENVIRONMENT, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
            child.stdout.close()  # as `| head -0` does: the first epoch's row meets a closed pipe
            err = child.stderr.read()
            child.stderr.close()
            self.assertEqual((child.wait(timeout=300), err), (1, ""))
            self.assertEqual(os.listdir(tmp), ["data"])  # stopped at its first row, before any figure

    def test_output_on_a_full_disk_is_one_line_naming_standard_output(self):
        with tempfile.TemporaryDirectory() as tmp:
            write_synthetic_cifar(os.path.join(tmp, "data"), images_per_batch=20)
            result = run_on_a_full_disk(TRAIN, tmp)
            self.assertEqual((result.returncode, result.stderr),
                             (1, f"train.py: error: standard output: {os.strerror(errno.ENOSPC)}; send it to a disk "
                                 f"with free space or to a terminal, then run again\n"))
            self.assertEqual(os.listdir(tmp), ["data"])  # stopped at its first row, before any figure

    def test_without_a_console_it_trains_in_silence(self):
        # pythonw on Windows, or `>&-`: no stdout or stderr at all
        launcher = ("import runpy, sys; sys.stdout = sys.stderr = None; sys.argv = sys.argv[1:]; "
                    f"sys.path.insert(0, {PART1!r}); runpy.run_path(sys.argv[0], run_name='__main__')")
        with tempfile.TemporaryDirectory() as tmp:
            write_synthetic_cifar(os.path.join(tmp, "data"), images_per_batch=20)
            result = subprocess.run([sys.executable, "-c", launcher, TRAIN], cwd=tmp, env=ENVIRONMENT, timeout=300)
            self.assertEqual(result.returncode, 0)
            self.assertTrue(os.path.getsize(os.path.join(tmp, "train.png")) > 1000)

    def test_missing_data_is_one_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            part = os.path.join(tmp, "part1-convnet")
            result = run_train(part, train=copy_of_part1(part))
            self.assertFalse(os.path.exists(os.path.join(part, "train.png")))
        self.assert_one_line_error(result, "get_data", os.path.join("data", "cifar-10-batches-py"))

    def test_bad_batch_is_one_line_and_writes_no_figure(self):
        with tempfile.TemporaryDirectory() as tmp:
            folder = write_synthetic_cifar(os.path.join(tmp, "data"), images_per_batch=20)
            with open(os.path.join(folder, "data_batch_3"), "wb") as f:
                f.write(b"\x80\x02}q\x00(X\x04\x00\x00\x00data")  # a pickle cut short
            result = run_train(tmp)
            self.assertFalse(os.path.exists(os.path.join(tmp, "train.png")))
        self.assert_one_line_error(result, "data_batch_3", "get_data.sh")

    def test_a_folder_named_train_png_is_refused_before_training(self):
        with tempfile.TemporaryDirectory() as tmp:
            write_synthetic_cifar(os.path.join(tmp, "data"), images_per_batch=20)
            os.mkdir(os.path.join(tmp, "train.png"))
            result = run_train(tmp)
            self.assertEqual(files_in(tmp), ["data", "train.png"])
            self.assertEqual(files_in(os.path.join(tmp, "train.png")), [])
        self.assert_one_line_error(result, "train.png is a folder; move it out of the way")
        self.assertNotIn("epoch", result.stdout)

    def test_a_read_only_folder_is_refused_before_training(self):
        with tempfile.TemporaryDirectory() as tmp:
            write_synthetic_cifar(os.path.join(tmp, "data"), images_per_batch=20)
            os.chmod(tmp, 0o555)
            try:
                try:
                    open(os.path.join(tmp, "probe"), "w").close()
                    self.skipTest("this user writes in read-only folders (root, or Windows, which ignores the mode)")
                except PermissionError:
                    pass
                result = run_train(tmp)
                self.assertEqual(files_in(tmp), ["data"])
            finally:
                os.chmod(tmp, 0o755)  # so that the folder can be removed
        self.assert_one_line_error(result, "cannot write train.png in", "make that folder writable")
        self.assertNotIn("epoch", result.stdout)

    def run_in_process_refusing(self, tmp, module, name, refused=None):
        """train.main() run here in tmp with module.name refusing as a read-only folder does (a refusal that root,
        who runs some test machines, never sees); returns it as a CompletedProcess."""
        import train
        refused = refused or PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.chdir(tmp), mock.patch.object(module, name, side_effect=refused), \
                contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = train.main([])
        return subprocess.CompletedProcess(["train.py"], status, out.getvalue(), err.getvalue())

    def test_a_folder_refusing_new_files_is_reported_before_training(self):
        with tempfile.TemporaryDirectory() as tmp:
            write_synthetic_cifar(os.path.join(tmp, "data"), images_per_batch=20)
            result = self.run_in_process_refusing(tmp, tempfile, "mkstemp")
            self.assertEqual(files_in(tmp), ["data"])
        self.assert_one_line_error(result, f"cannot write train.png in {os.path.realpath(tmp)}",
                                   os.strerror(errno.EACCES), "make that folder writable")
        self.assertNotIn("epoch", result.stdout)

    def test_a_read_only_disk_is_reported_before_training_with_its_own_fix(self):
        with tempfile.TemporaryDirectory() as tmp:
            write_synthetic_cifar(os.path.join(tmp, "data"), images_per_batch=20)
            read_only = OSError(errno.EROFS, os.strerror(errno.EROFS))
            result = self.run_in_process_refusing(tmp, tempfile, "mkstemp", read_only)
            self.assertEqual(files_in(tmp), ["data"])  # no figure, no temporary file
        self.assert_one_line_error(result, os.strerror(errno.EROFS), "copy the kit to a disk you can write to")
        self.assertNotIn("make that folder writable", result.stderr)  # permissions cannot help a read-only mount
        self.assertNotIn("epoch", result.stdout)

    def test_a_figure_not_written_after_training_is_one_line_and_the_old_one_stays(self):
        # the folder passed the check and refuses the figure at the end, as one made read-only meanwhile
        with tempfile.TemporaryDirectory() as tmp:
            write_synthetic_cifar(os.path.join(tmp, "data"), images_per_batch=20)
            with open(os.path.join(tmp, "train.png"), "wb") as f:
                f.write(b"an earlier figure")
            result = self.run_in_process_refusing(tmp, os, "replace")
            with open(os.path.join(tmp, "train.png"), "rb") as f:
                self.assertEqual(f.read(), b"an earlier figure")
            self.assertEqual(files_in(tmp), ["data", "train.png"])  # no temporary figure left
        self.assertEqual(sum(line.startswith("epoch") for line in result.stdout.splitlines()), 11)
        self.assert_one_line_error(result, f"cannot write train.png ({os.strerror(errno.EACCES)})",
                                   "final training accuracy", "any earlier train.png is kept")

    def test_a_full_or_failing_disk_after_training_is_named_with_its_fix_and_the_old_figure_stays(self):
        for errno_, fix in ((errno.ENOSPC, "free some disk space"), (errno.EIO, "check the disk")):
            with self.subTest(error=errno.errorcode[errno_]), tempfile.TemporaryDirectory() as tmp:
                write_synthetic_cifar(os.path.join(tmp, "data"), images_per_batch=20)
                with open(os.path.join(tmp, "train.png"), "wb") as f:
                    f.write(b"an earlier figure")
                result = self.run_in_process_refusing(tmp, os, "replace", OSError(errno_, os.strerror(errno_)))
                with open(os.path.join(tmp, "train.png"), "rb") as f:
                    self.assertEqual(f.read(), b"an earlier figure")
                self.assertEqual(files_in(tmp), ["data", "train.png"])
                self.assert_one_line_error(result, f"cannot write train.png ({os.strerror(errno_)}); {fix}",
                                           "any earlier train.png is kept")
                self.assertNotIn("writable", result.stderr)

    def test_the_data_path_is_written_with_the_os_separator(self):
        # as on Windows: ntpath in place of os.path while train.py is imported, so the missing-data message and
        # the test above name the same path on every OS
        script = ("import os, ntpath, sys\n"
                  "import argparse, tempfile, matplotlib.pyplot, numpy\n"
                  "os.path = sys.modules['os.path'] = ntpath\n"
                  "import train\n"
                  "print(train.DATA_DIR)")
        result = subprocess.run([sys.executable, "-c", script], cwd=PART1, env=ENVIRONMENT, capture_output=True,
                                text=True, timeout=120)
        self.assertEqual((result.returncode, result.stderr), (0, ""))
        self.assertEqual(result.stdout.strip(), "data\\cifar-10-batches-py")

    def test_link_or_copy_copies_where_links_are_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            source = os.path.join(tmp, "source")
            os.makedirs(source)
            with open(os.path.join(source, "test_batch"), "w") as f:
                f.write("batch")
            refused = OSError(errno.EPERM, "A required privilege is not held by the client")
            with mock.patch.object(os, "symlink", side_effect=refused):
                link_or_copy(source, os.path.join(tmp, "copy"))
            self.assertFalse(os.path.islink(os.path.join(tmp, "copy")))
            with open(os.path.join(tmp, "copy", "test_batch")) as f:
                self.assertEqual(f.read(), "batch")

    def test_help_and_unknown_arguments(self):
        with tempfile.TemporaryDirectory() as tmp:
            write_synthetic_cifar(os.path.join(tmp, "data"), images_per_batch=20)
            for flag in ("--help", "-h"):
                result = run_train(tmp, flag)
                self.assertEqual((result.returncode, result.stderr), (0, ""))
                self.assertTrue(result.stdout.startswith("usage: train.py"), result.stdout)
                self.assertNotIn("epoch", result.stdout)
            unknown = run_train(tmp, "--epochs", "3")
            self.assertEqual(os.listdir(tmp), ["data"])  # nothing trained, no figure
        self.assert_one_line_error(unknown, "--epochs")

    def assert_the_cd_leads_to(self, result, folder):
        """The `cd ...` the error line ends with, pasted into a shell, leads to folder (where a POSIX sh is)."""
        command = result.stderr.rstrip("\n").split("run train.py from its own folder: ", 1)[1]
        if os.name == "posix":
            landed = subprocess.run(["sh", "-c", f"{command} && pwd -P"], capture_output=True, text=True)
            self.assertEqual(landed.stdout.strip(), os.path.realpath(folder), landed.stderr)

    def test_run_from_the_repository_root_says_where_to_cd(self):
        root = os.path.dirname(PART1)
        figure = os.path.join(PART1, "train.png")
        before = os.stat(figure).st_mtime_ns if os.path.exists(figure) else None
        result = run_train(root)
        self.assert_one_line_error(result, "run train.py from its own folder: cd ")
        self.assert_the_cd_leads_to(result, PART1)
        self.assertFalse(os.path.exists(os.path.join(root, "train.png")))
        self.assertEqual(os.stat(figure).st_mtime_ns if os.path.exists(figure) else None, before)

    def test_run_from_elsewhere_with_the_data_beside_train_py_says_where_to_cd(self):
        with tempfile.TemporaryDirectory() as tmp:  # a kit in "My Projects": the cd must be pasted whole
            part, elsewhere = os.path.join(tmp, "My Projects", "part1-convnet"), os.path.join(tmp, "elsewhere")
            train = copy_of_part1(part)
            os.makedirs(os.path.join(part, "data", "cifar-10-batches-py"))
            os.makedirs(elsewhere)
            result = run_train(elsewhere, train=train)
            self.assertEqual(os.listdir(elsewhere), [])
            self.assert_one_line_error(result, "run train.py from its own folder: cd ", "My Projects")
            self.assert_the_cd_leads_to(result, part)

    @unittest.skipIf(os.name == "nt", "sends SIGINT and SIGTERM, which Windows cannot deliver to a child process")
    def test_ctrl_c_or_kill_is_one_line_exit_128_plus_the_signal_and_no_figure(self):
        for stop, how in ((signal.SIGINT, "interrupted"), (signal.SIGTERM, "stopped by SIGTERM")):
            with self.subTest(signal=stop.name), tempfile.TemporaryDirectory() as tmp:
                write_synthetic_cifar(os.path.join(tmp, "data"), images_per_batch=20)
                child = subprocess.Popen([sys.executable, TRAIN], cwd=tmp, env=ENVIRONMENT, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
                self.assertTrue(child.stdout.readline().startswith("epoch"))  # training has started
                child.send_signal(stop)
                _, err = child.communicate(timeout=60)
                self.assertEqual(os.listdir(tmp), ["data"])
                self.assertEqual(child.returncode, 128 + stop, err)
                self.assertEqual(err.strip().splitlines(), [f"train.py: {how}; train.png was not written"])

    @unittest.skipUnless(HAVE_REAL_DATA, "CIFAR-10 not found in data/cifar-10-batches-py; run data/get_data.sh")
    def test_real_data_reaches_slightly_under_090(self):
        with tempfile.TemporaryDirectory() as tmp:
            os.makedirs(os.path.join(tmp, "data"))
            link_or_copy(os.path.abspath(REAL_DATA), os.path.join(tmp, "data", "cifar-10-batches-py"))
            result = run_train(tmp)
        self.assertEqual(result.returncode, 0, result.stderr)
        final = float(result.stdout.splitlines()[-1].split("train acc ")[1].split()[0])  # the last epoch's row
        self.assertGreaterEqual(final, 0.8)
        self.assertLess(final, 0.9)


class TestFigureHeldOpen(unittest.TestCase):
    """Windows refuses to replace a file that another program (an image viewer) holds open."""

    def setUp(self):
        import matplotlib
        import train
        self.save_figure = train.save_figure
        matplotlib.__version__  # worked out (with pathlib) and kept on the first read: before os.name is patched
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        self.folder, self.path = folder.name, os.path.join(folder.name, "train.png")
        with open(self.path, "wb") as f:
            f.write(b"an earlier figure")
        figure = train.plt.figure()
        self.addCleanup(train.plt.close, figure)
        train.plt.plot([0, 1], [0.1, 0.9])
        self.real_replace = os.replace

    def refusing(self, times):
        calls = []

        def replace(source, target):
            calls.append(target)
            if len(calls) <= times:
                raise PermissionError(errno.EACCES, "Access is denied", target)
            return self.real_replace(source, target)
        return calls, replace

    def earlier_figure_kept(self):
        with open(self.path, "rb") as f:
            return f.read() == b"an earlier figure" and files_in(self.folder) == ["train.png"]

    @unittest.skipIf(os.name == "nt", "Windows has no permission bits for the group and others")
    def test_the_figure_has_the_permissions_the_umask_gives(self):
        self.addCleanup(os.umask, os.umask(0o022))
        for umask, mode in ((0o022, 0o644), (0o002, 0o664), (0o077, 0o600)):  # not mkstemp's private 0o600 always
            with self.subTest(umask=oct(umask)):
                os.umask(umask)
                self.save_figure(self.path)
                self.assertEqual(os.stat(self.path).st_mode & 0o777, mode)
                self.assertEqual(os.umask(umask), umask)  # left as it was

    def test_on_windows_the_figure_waits_for_the_other_program(self):
        calls, replace = self.refusing(3)
        with mock.patch("os.name", "nt"), mock.patch("os.replace", replace), mock.patch("time.sleep") as sleep:
            self.save_figure(self.path)
        self.assertEqual((len(calls), sleep.call_count), (4, 3))
        with open(self.path, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        self.assertEqual(files_in(self.folder), ["train.png"])  # no temporary figure left

    def test_then_it_says_what_to_do_and_keeps_the_earlier_figure(self):
        calls, replace = self.refusing(100)
        with mock.patch("os.name", "nt"), mock.patch("os.replace", replace), mock.patch("time.sleep"), \
                self.assertRaisesRegex(PermissionError, "open in another program"):
            self.save_figure(self.path)
        self.assertEqual(len(calls), 6)
        self.assertTrue(self.earlier_figure_kept())

    def test_on_windows_a_first_figure_held_by_a_virus_scanner_is_waited_for_too(self):
        os.remove(self.path)
        for refusals in (3, 100):  # a scan done in a moment; a new file held on: the plain permission error
            calls, replace = self.refusing(refusals)
            with self.subTest(refusals=refusals), mock.patch("os.name", "nt"), mock.patch("os.replace", replace), \
                    mock.patch("time.sleep"), contextlib.ExitStack() as refused:
                if refusals == 100:
                    raised = refused.enter_context(self.assertRaises(PermissionError))
                self.save_figure(self.path)
            if refusals == 3:
                self.assertEqual((len(calls), files_in(self.folder)), (4, ["train.png"]))
                os.remove(self.path)
            else:
                self.assertEqual((len(calls), files_in(self.folder)), (6, []))
                self.assertNotIn("another program", str(raised.exception))

    def test_ctrl_c_just_after_the_rename_stays_a_ctrl_c_and_the_new_figure_stays(self):
        def replace_then_stop(source, target):
            self.real_replace(source, target)
            raise KeyboardInterrupt
        with mock.patch("os.replace", replace_then_stop), self.assertRaises(KeyboardInterrupt):
            self.save_figure(self.path)
        with open(self.path, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        self.assertEqual(files_in(self.folder), ["train.png"])

    def test_elsewhere_a_refusal_is_a_permission_problem_at_once(self):
        calls, replace = self.refusing(1)
        with mock.patch("os.name", "posix"), mock.patch("os.replace", replace), mock.patch("time.sleep") as sleep, \
                self.assertRaises(PermissionError) as raised:
            self.save_figure(self.path)
        self.assertEqual((len(calls), sleep.call_count), (1, 0))
        self.assertNotIn("another program", str(raised.exception))
        self.assertTrue(self.earlier_figure_kept())


if __name__ == "__main__":
    unittest.main()
