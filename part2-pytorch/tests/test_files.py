"""files.py: Ctrl-C held until a write or a group of writes has ended, and the file is whole afterwards."""
import errno
import os
import signal
import tempfile
import unittest
from unittest import mock

import torch

import files
from tests.helpers import python_handles_ctrl_c


setUpModule = python_handles_ctrl_c  # Python's Ctrl-C handler, even in a suite started in the background


class InterruptsHeld(unittest.TestCase):
    def setUp(self):
        self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)

    def test_ctrl_c_inside_is_raised_when_the_block_ends(self):
        finished = []
        with self.assertRaises(KeyboardInterrupt):
            with files.interrupts_held():
                signal.raise_signal(signal.SIGINT)
                finished.append("after the signal")
        self.assertEqual(finished, ["after the signal"])
        self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)

    def test_nested_blocks_raise_once_at_the_outer_end(self):
        finished = []
        with self.assertRaises(KeyboardInterrupt):
            with files.interrupts_held():
                with files.interrupts_held():
                    signal.raise_signal(signal.SIGINT)
                finished.append("inner ended")
        self.assertEqual(finished, ["inner ended"])

    def test_an_error_of_the_block_is_not_replaced(self):
        with self.assertRaises(OSError):
            with files.interrupts_held():
                signal.raise_signal(signal.SIGINT)
                raise OSError("disk full")
        self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)

    def test_no_signal_no_interrupt(self):
        with files.interrupts_held():
            self.assertIsNot(signal.getsignal(signal.SIGINT), signal.default_int_handler)  # held meanwhile
        self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)  # and nothing raised after


class SigtermAsInterrupt(unittest.TestCase):
    def test_sigterm_inside_is_held_then_raised_as_terminated(self):
        finished = []
        before = signal.getsignal(signal.SIGTERM)
        with self.assertRaises(files.Terminated):
            with files.sigterm_as_interrupt():
                with files.interrupts_held():
                    signal.raise_signal(signal.SIGTERM)
                    finished.append("after the signal")
        self.assertEqual(finished, ["after the signal"])
        self.assertIs(signal.getsignal(signal.SIGTERM), before)  # the process's own handler is back

    def test_both_signals_held_the_first_raised(self):
        with self.assertRaises(KeyboardInterrupt) as raised:
            with files.sigterm_as_interrupt(), files.interrupts_held():
                signal.raise_signal(signal.SIGINT)
                signal.raise_signal(signal.SIGTERM)
        self.assertNotIsInstance(raised.exception, files.Terminated)
        self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)

    def test_without_it_interrupts_held_leaves_sigterm_alone(self):
        before = signal.getsignal(signal.SIGTERM)
        with files.interrupts_held():
            self.assertIs(signal.getsignal(signal.SIGTERM), before)

    def test_words_and_exit_status(self):
        self.assertEqual(files.how_stopped(KeyboardInterrupt()), ("interrupted", 130))
        self.assertEqual(files.how_stopped(files.Terminated()), ("stopped by SIGTERM", 128 + signal.SIGTERM))


class InterruptedWrite(unittest.TestCase):
    def test_ctrl_c_during_torch_save_leaves_the_whole_file_then_interrupts(self):
        """torch.save's zip writer turns an exception of the file's write() into a RuntimeError: held, the
        interrupt comes after the rename, and the file loads."""
        folder = tempfile.mkdtemp()
        path = os.path.join(folder, "state.pth")
        state = {"weights": torch.arange(10_000.0)}

        class InterruptingFile:
            def __init__(self, f):
                self.f, self.sent = f, False

            def write(self, data):
                if not self.sent:
                    self.sent = True
                    signal.raise_signal(signal.SIGINT)
                return self.f.write(data)

            def __getattr__(self, name):
                return getattr(self.f, name)

        with self.assertRaises(KeyboardInterrupt):
            files.write_atomically(path, lambda f: torch.save(state, InterruptingFile(f)))
        self.assertTrue(torch.equal(torch.load(path, weights_only=True)["weights"], state["weights"]))
        self.assertEqual(os.listdir(folder), ["state.pth"])


class Durability(unittest.TestCase):
    def test_the_new_file_is_on_the_disk_before_it_replaces_the_old_one(self):
        # else a power cut after the rename can leave an empty file where the old one was
        events, real_fsync, real_replace = [], os.fsync, os.replace

        def fsync(descriptor):
            events.append(("fsync", os.fstat(descriptor).st_size))
            return real_fsync(descriptor)

        def replace(source, target):
            events.append(("replace", os.path.basename(target)))
            return real_replace(source, target)
        with tempfile.TemporaryDirectory() as folder, mock.patch("os.fsync", fsync), \
                mock.patch("os.replace", replace):
            files.write_atomically(os.path.join(folder, "last.pth"), lambda f: f.write(b"12345"))
        self.assertEqual(events, [("fsync", 5), ("replace", "last.pth")])


class FailedWrites(unittest.TestCase):
    def test_errors_name_the_target_and_what_to_do(self):
        with tempfile.TemporaryDirectory() as folder:
            in_the_way = os.path.join(folder, "metrics.csv")
            os.mkdir(in_the_way)
            with self.assertRaises(OSError) as caught:
                files.write_atomically(in_the_way, lambda f: f.write(b"x"))
            self.assertEqual(caught.exception.filename, in_the_way)  # not the temporary file it renamed
            self.assertIn("in the way", files.what_to_do(caught.exception))
            denied = PermissionError(errno.EACCES, "Access is denied", in_the_way)  # what Windows raises there
            with mock.patch.object(os, "name", "nt"):
                self.assertIn("in the way", files.what_to_do(denied))
            with mock.patch.object(os, "name", "posix"):  # there: a folder this user may not write in
                self.assertEqual(files.what_to_do(denied), "fix the permissions")

            def disk_full(f):
                raise OSError(errno.ENOSPC, "No space left on device")
            path = os.path.join(folder, "last.pth")
            with self.assertRaises(OSError) as caught:
                files.write_atomically(path, disk_full)
            self.assertEqual(caught.exception.filename, path)
            self.assertEqual(files.what_to_do(caught.exception), "free some disk space")
            refused = PermissionError(errno.EACCES, "Permission denied")
            self.assertEqual(files.what_to_do(refused), "fix the permissions")
            self.assertEqual(files.what_to_do(OSError(errno.EROFS, "Read-only file system")),
                             "copy the kit to a disk you can write to")  # permissions cannot help a read-only mount
            self.assertIn("check the disk", files.what_to_do(OSError(errno.EIO, "Input/output error")))
            long_name = os.path.join(folder, "x" * 300)  # past every file system's 255 for one name
            with self.assertRaises(OSError) as caught:
                files.write_atomically(long_name, lambda f: f.write(b"x"))
            self.assertIn("a name in the path, or the whole path, is too long", files.what_to_do(caught.exception))
            deep = os.path.join(folder, *["run"] * 70, "metrics.csv")  # Windows: past 260, only "not found"
            not_found = FileNotFoundError(errno.ENOENT, "The system cannot find the path specified", deep)
            self.assertIn("check the disk", files.what_to_do(not_found))
            with mock.patch.object(os, "name", "nt"):
                self.assertIn("past Windows' 260 characters", files.what_to_do(not_found))
                denied = PermissionError(errno.EACCES, "Access is denied", deep)  # another cause: its own fix
                self.assertEqual(files.what_to_do(denied), "fix the permissions")
            self.assertEqual(sorted(os.listdir(folder)), ["metrics.csv"])  # no temporary file left


@mock.patch("time.sleep")
class TargetOpenElsewhere(unittest.TestCase):
    """Windows refuses to rename over a file another program holds open (metrics.csv in a spreadsheet)."""

    def setUp(self):
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        self.path = os.path.join(folder.name, "metrics.csv")
        with open(self.path, "w") as f:
            f.write("old\n")
        self.real_replace = os.replace

    def refusing(self, times):
        calls = []

        def replace(source, target):
            calls.append(target)
            if len(calls) <= times:
                raise PermissionError(13, "Access is denied", target)
            return self.real_replace(source, target)
        return calls, replace

    def write(self, text):
        files.write_atomically(self.path, lambda f: f.write(text), "w")

    def read(self):
        with open(self.path) as f:
            return f.read()

    def test_on_windows_the_write_waits_for_the_other_program(self, _):
        calls, replace = self.refusing(3)
        with mock.patch("os.name", "nt"), mock.patch("os.replace", replace):
            self.write("new\n")
        self.assertEqual((len(calls), self.read()), (4, "new\n"))

    def test_then_it_says_what_to_do_and_keeps_the_old_file(self, _):
        calls, replace = self.refusing(100)
        with mock.patch("os.name", "nt"), mock.patch("os.replace", replace), \
                self.assertRaisesRegex(PermissionError, "open in another program"):
            self.write("new\n")
        self.assertEqual(self.read(), "old\n")
        self.assertEqual(os.listdir(os.path.dirname(self.path)), ["metrics.csv"])  # no temp file left

    def test_a_first_write_held_by_a_virus_scanner_is_waited_for_too(self, _):
        os.remove(self.path)
        calls, replace = self.refusing(3)
        with mock.patch("os.name", "nt"), mock.patch("os.replace", replace):
            self.write("new\n")
        self.assertEqual((len(calls), self.read()), (4, "new\n"))
        os.remove(self.path)
        calls, replace = self.refusing(100)  # held on: the plain error, not "open in another program"
        with mock.patch("os.name", "nt"), mock.patch("os.replace", replace), self.assertRaises(OSError) as caught:
            self.write("new\n")
        self.assertEqual((len(calls), os.listdir(os.path.dirname(self.path))), (6, []))
        self.assertNotIn("another program", files.os_error_line(caught.exception))

    def test_the_error_line_says_to_close_the_file(self, _):
        calls, replace = self.refusing(100)
        with mock.patch("os.name", "nt"), mock.patch("os.replace", replace), self.assertRaises(OSError) as caught:
            self.write("new\n")
        self.assertEqual(files.os_error_line(caught.exception),
                         f"{self.path}: Access is denied (is it open in another program?); close it there (if nothing "
                         f"holds it, fix the permissions), then run again")

    def test_a_folder_with_a_file_open_elsewhere_is_moved_once_it_is_closed_or_said_so(self, _):
        # a fresh run moves runs/NAME aside: Windows refuses while its metrics.csv is open in a spreadsheet
        folder = os.path.dirname(self.path)
        run, aside = os.path.join(folder, "run"), os.path.join(folder, "run.1")
        os.makedirs(run)
        calls, replace = self.refusing(3)
        with mock.patch("os.name", "nt"), mock.patch("os.replace", replace):
            files.replace_when_free(run, aside)
        self.assertEqual((len(calls), os.path.isdir(aside), os.path.exists(run)), (4, True, False))
        calls, replace = self.refusing(100)
        with mock.patch("os.name", "nt"), mock.patch("os.replace", replace), self.assertRaises(OSError) as caught:
            files.replace_when_free(aside, run)
        self.assertEqual(files.os_error_line(caught.exception),
                         f"{aside}: Access is denied (is a file in it open in another program?); close it there (if "
                         f"nothing holds it, fix the permissions), then run again")
        self.assertTrue(os.path.isdir(aside))

    def test_elsewhere_a_refusal_is_a_permission_problem_at_once(self, _):
        calls, replace = self.refusing(1)
        with mock.patch("os.name", "posix"), mock.patch("os.replace", replace), self.assertRaises(PermissionError):
            self.write("new\n")
        self.assertEqual(len(calls), 1)


if __name__ == "__main__":
    unittest.main()
