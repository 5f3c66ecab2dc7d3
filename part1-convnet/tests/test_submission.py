"""collect_submission.sh (and the collect_submission.py it runs) on a copy of part 1, called from another folder.

Each case asserts what is on disk afterwards: the zip holds exactly the graded files, and a failure leaves the
earlier zip byte for byte, with no temporary file beside it."""
import contextlib
import errno
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile
from unittest import mock

from tests.script_checks import PART1, assert_one_line_error, copy_of_part1, run_on_a_full_disk

ZIP = "assignment_2_part1_submission.zip"
# a fresh interpreter in which creating a file in any folder is refused, as in a read-only one (which root, who
# runs some test machines, may write in all the same), then collect_submission.py run as a script
REFUSING_NEW_FILES = """
import errno, os, runpy, sys, tempfile
def refuse(*args, dir=None, **kwargs):
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), dir)
tempfile.mkstemp = refuse
sys.argv = [sys.argv[1]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def graded_files():
    """The names the zip should hold: the kit's modules/ optimizer/ trainer.py train.py, Python sources only."""
    names = ["trainer.py", "train.py"]
    for folder in ("modules", "optimizer"):
        names += [f"{folder}/{name}" for name in os.listdir(os.path.join(PART1, folder)) if name.endswith(".py")]
    return sorted(names)


def refusing_replace(refusals):
    """os.replace as Windows runs it while another program holds a file: refused `refusals` times, then done;
    returns (the targets it was asked for, the function)."""
    calls, real_replace = [], os.replace

    def replace(source, target):
        calls.append(target)
        if len(calls) <= refusals:
            raise PermissionError(errno.EACCES, "Access is denied", target)
        return real_replace(source, target)
    return calls, replace


class CollectSubmission(unittest.TestCase):
    def setUp(self):
        temporary = tempfile.TemporaryDirectory()
        self.addCleanup(temporary.cleanup)
        self.elsewhere = temporary.name
        self.part = os.path.dirname(copy_of_part1(os.path.join(self.elsewhere, "part1-convnet")))
        self.zip = os.path.join(self.part, ZIP)
        # what an editor, macOS and Python leave behind, none of it graded
        for clutter in ("modules/.DS_Store", "modules/__pycache__/relu.cpython-311.pyc", "optimizer/sgd.pyc",
                        "modules/.notes/todo.txt"):
            os.makedirs(os.path.dirname(os.path.join(self.part, clutter)), exist_ok=True)
            with open(os.path.join(self.part, clutter), "w") as f:
                f.write("not graded")

    def collect(self):
        script = os.path.join(self.part, "collect_submission.sh")
        command = ["sh", script] if shutil.which("sh") else [sys.executable, script.replace(".sh", ".py")]
        environment = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
                           PYTHONDONTWRITEBYTECODE="1")
        return subprocess.run(command, cwd=self.elsewhere, env=environment, capture_output=True, text=True,
                              timeout=120)

    @unittest.skipUnless(hasattr(os, "mkfifo"), "named pipes are POSIX")
    def test_a_pipe_in_a_graded_folder_is_left_out_rather_than_waited_on(self):
        os.mkfifo(os.path.join(self.part, "modules", "notes"))
        result = self.collect()
        self.assertEqual((result.returncode, result.stderr), (0, ""))
        with zipfile.ZipFile(self.zip) as archive:
            self.assertIn("modules/relu.py", archive.namelist())
            self.assertNotIn("modules/notes", archive.namelist())

    def test_a_file_dated_before_1980_goes_in_dated_1980(self):
        os.utime(os.path.join(self.part, "modules", "relu.py"), (0, 0))  # 1970, as an unpacker may set
        result = self.collect()
        self.assertEqual((result.returncode, result.stderr), (0, ""))
        with zipfile.ZipFile(self.zip) as archive:
            self.assertEqual(archive.getinfo("modules/relu.py").date_time, (1980, 1, 1, 0, 0, 0))

    def test_a_console_without_unicode_gets_the_path_as_escapes(self):
        moved = shutil.move(self.part, os.path.join(self.elsewhere, "données"))
        result = subprocess.run([sys.executable, os.path.join(moved, "collect_submission.py")], cwd=self.elsewhere,
                                env=dict(os.environ, PYTHONIOENCODING="ascii", PYTHONDONTWRITEBYTECODE="1"),
                                capture_output=True, text=True, timeout=120)
        self.assertEqual((result.returncode, result.stderr), (0, ""))
        self.assertIn("donn\\xe9es", result.stdout)
        self.assertTrue(zipfile.is_zipfile(os.path.join(moved, ZIP)))

    @unittest.skipIf(os.name == "nt", "Windows has no permission bits for the group and others")
    def test_the_zip_has_the_permissions_the_umask_gives(self):
        self.addCleanup(os.umask, os.umask(0o022))  # the test processes inherit it
        for umask, mode in ((0o022, 0o644), (0o002, 0o664), (0o077, 0o600)):  # not mkstemp's private 0o600 always
            with self.subTest(umask=oct(umask)):
                os.umask(umask)
                self.assertEqual(self.collect().returncode, 0)
                self.assertEqual(os.stat(self.zip).st_mode & 0o777, mode)

    def collect_earlier_zip(self):
        """A good zip made first; returns (its bytes, the folder's listing) to compare with after a failure."""
        self.assertEqual(self.collect().returncode, 0)
        with open(self.zip, "rb") as f:
            return f.read(), sorted(os.listdir(self.part))

    def assert_one_line_error(self, result, *fragments):
        assert_one_line_error(self, result, "collect_submission.py", *fragments)

    def copy_imported(self):
        """The copy's collect_submission.py as a module, to call its main() in this process."""
        spec = importlib.util.spec_from_file_location("kit_collect_submission",
                                                      os.path.join(self.part, "collect_submission.py"))
        kit = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(kit)
        self.addCleanup(os.chdir, os.getcwd())  # main changes to the kit's folder
        return kit

    def assert_kept(self, earlier):
        with open(self.zip, "rb") as f:
            self.assertEqual((f.read(), sorted(os.listdir(self.part))), earlier)  # no temporary zip either

    def test_the_zip_holds_the_graded_files_and_nothing_hidden(self):
        result = self.collect()
        self.assertEqual((result.returncode, result.stderr), (0, ""))
        self.assertEqual(result.stdout, f"wrote {self.zip} ({len(graded_files())} files)\n")
        with zipfile.ZipFile(self.zip) as archive:
            self.assertEqual(sorted(archive.namelist()), graded_files())
            for name in archive.namelist():
                with open(os.path.join(self.part, name), "rb") as f:
                    self.assertEqual(archive.read(name), f.read(), name)
        self.assertFalse([name for name in os.listdir(self.part) if name.startswith(".")])

    def test_an_unreadable_file_leaves_the_earlier_zip(self):
        earlier = self.collect_earlier_zip()
        broken = os.path.join(self.part, "modules", "broken.py")
        try:
            os.symlink(os.path.join(self.part, "nowhere.py"), broken)  # unreadable to root as well
        except OSError as error:
            self.skipTest(f"cannot make a symbolic link here ({error})")
        result = self.collect()
        self.assert_one_line_error(result, f"{ZIP} not written", os.path.join("modules", "broken.py"),
                                   "any earlier")
        self.assert_kept(earlier)

    def test_a_file_without_read_permission_leaves_the_earlier_zip(self):
        earlier = self.collect_earlier_zip()
        secret = os.path.join(self.part, "optimizer", "secret.py")
        with open(secret, "w") as f:
            f.write("x = 1\n")
        os.chmod(secret, 0)
        try:
            open(secret).close()
            self.skipTest("this user reads files without read permission (root, or Windows, which ignores the mode)")
        except PermissionError:
            pass
        result = self.collect()
        self.assert_one_line_error(result, os.strerror(errno.EACCES), os.path.join("optimizer", "secret.py"))
        os.remove(secret)
        self.assert_kept(earlier)

    def test_a_folder_in_the_zips_place_is_one_line(self):
        os.mkdir(self.zip)
        result = self.collect()
        self.assert_one_line_error(result, f"{self.zip} is a folder; move it out of the way")
        self.assertEqual(os.listdir(self.zip), [])

    def test_a_folder_that_takes_no_new_file_leaves_the_earlier_zip(self):
        earlier = self.collect_earlier_zip()
        result = subprocess.run([sys.executable, "-c", REFUSING_NEW_FILES,
                                 os.path.join(self.part, "collect_submission.py")],
                                cwd=self.elsewhere, capture_output=True, text=True, timeout=120)
        self.assert_one_line_error(result, f"{ZIP} not written ({os.strerror(errno.EACCES)}: {self.part}",
                                   "any earlier")
        self.assert_kept(earlier)

    def test_a_full_or_failing_disk_is_named_with_its_fix_and_leaves_the_earlier_zip(self):
        earlier = self.collect_earlier_zip()
        kit = self.copy_imported()
        for errno_, fix in ((errno.ENOSPC, "free some disk space"), (errno.EIO, "check the disk")):
            with self.subTest(error=errno.errorcode[errno_]):
                err, failing = io.StringIO(), OSError(errno_, os.strerror(errno_))
                with mock.patch.object(kit.zipfile.ZipFile, "write", side_effect=failing), \
                        contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                    self.assertEqual(kit.main([]), 2)
                self.assertTrue(err.getvalue().startswith(f"collect_submission.py: error: {ZIP} not written "
                                                          f"({os.strerror(errno_)}); {fix}"), err.getvalue())
                self.assertTrue(err.getvalue().endswith(f"; any earlier {ZIP} is kept\n"), err.getvalue())
                self.assert_kept(earlier)

    def test_a_reader_that_goes_away_still_gets_the_whole_zip_and_no_traceback(self):
        process = subprocess.Popen([sys.executable, os.path.join(self.part, "collect_submission.py")],
                                   cwd=self.elsewhere, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        process.stdout.close()  # as `| head -0` does: the one line meets a closed pipe
        err = process.stderr.read()
        process.stderr.close()
        self.assertEqual((process.wait(timeout=120), err), (1, ""))
        with zipfile.ZipFile(self.zip) as archive:
            self.assertEqual(sorted(archive.namelist()), graded_files())

    def test_output_on_a_full_disk_is_one_line_and_the_zip_is_whole(self):
        result = run_on_a_full_disk(os.path.join(self.part, "collect_submission.py"), self.elsewhere)
        self.assertEqual((result.returncode, result.stderr),
                         (1, f"collect_submission.py: error: {self.zip} is written, but standard output is not "
                             f"({os.strerror(errno.ENOSPC)})\n"))
        with zipfile.ZipFile(self.zip) as archive:
            self.assertEqual(sorted(archive.namelist()), graded_files())

    def test_a_missing_graded_file_is_one_line_and_writes_no_zip(self):
        os.remove(os.path.join(self.part, "train.py"))
        result = self.collect()
        self.assert_one_line_error(result, f"{ZIP} not written", "train.py")
        self.assertFalse(os.path.exists(self.zip))

    def test_a_file_name_that_is_not_utf8_is_one_line_and_leaves_the_earlier_zip(self):
        earlier = self.collect_earlier_zip()
        try:  # Linux takes any bytes; macOS and Windows refuse such a name, and the case cannot arise there
            open(os.path.join(os.fsencode(self.part), b"modules", b"caf\xe9.py"), "w").close()
        except (OSError, UnicodeError):  # macOS: EILSEQ; Windows decodes a bytes path as UTF-8 (PEP 529)
            self.skipTest("this file system takes only UTF-8 names")
        result = self.collect()
        self.assert_one_line_error(result, "modules/caf\\udce9.py: a file name that is not UTF-8".replace("/", os.sep),
                                   "rename the file")
        os.remove(os.path.join(os.fsencode(self.part), b"modules", b"caf\xe9.py"))
        self.assert_kept(earlier)  # byte for byte, and no temporary zip

    def test_a_linked_folder_goes_in_and_a_link_back_is_walked_once(self):
        shared = os.path.join(self.elsewhere, "shared_layers")  # the student's own code, linked into modules/
        os.mkdir(shared)
        with open(os.path.join(shared, "extra.py"), "w") as f:
            f.write("x = 1\n")
        try:
            os.symlink(shared, os.path.join(self.part, "modules", "shared"), target_is_directory=True)
            os.symlink(os.path.join(self.part, "modules"), os.path.join(shared, "back"), target_is_directory=True)
        except OSError:  # Windows without the right to make links
            self.skipTest("cannot make a symbolic link here")
        self.assertEqual(self.collect().returncode, 0)
        with zipfile.ZipFile(self.zip) as archive:
            names = archive.namelist()
        self.assertIn("modules/shared/extra.py", names)
        self.assertFalse([name for name in names if "/back/" in name])  # modules/ again, through the loop
        self.assertEqual(len(names), len(set(names)))

    def test_files_go_in_in_name_order_in_each_folder(self):
        # os.walk gives a folder's names in the file system's order: made here in neither name order nor its reverse
        extra = os.path.join(self.part, "modules", "extra")
        os.mkdir(extra)
        for name in ("b.py", "d.py", "a.py", "e.py", "c.py"):
            with open(os.path.join(extra, name), "w") as f:
                f.write("x = 1\n")
        if os.listdir(extra) == sorted(os.listdir(extra)):
            self.skipTest("this file system lists a folder in name order anyway")
        self.assertEqual(self.collect().returncode, 0)

        def files_in(folder):
            names = os.listdir(os.path.join(PART1, folder))
            return sorted(f"{folder}/{name}" for name in names if name.endswith(".py"))
        expected = (files_in("modules") + [f"modules/extra/{name}.py" for name in "abcde"] + files_in("optimizer")
                    + ["trainer.py", "train.py"])
        with zipfile.ZipFile(self.zip) as archive:
            self.assertEqual(archive.namelist(), expected)  # a folder's files, then its subfolders'

    def test_nothing_under_pycache_goes_in_even_if_not_byte_code(self):
        with open(os.path.join(self.part, "modules", "__pycache__", "notes.txt"), "w") as f:
            f.write("not graded")
        self.assertEqual(self.collect().returncode, 0)
        with zipfile.ZipFile(self.zip) as archive:
            self.assertEqual(sorted(archive.namelist()), graded_files())

    def test_ctrl_c_while_writing_returns_130_and_leaves_the_earlier_zip(self):
        earlier = self.collect_earlier_zip()
        kit = self.copy_imported()
        err = io.StringIO()
        with mock.patch.object(zipfile.ZipFile, "write", side_effect=KeyboardInterrupt), \
                contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            status = kit.main([])
        self.assertEqual(status, 130)
        self.assertIn("interrupted", err.getvalue())
        self.assert_kept(earlier)  # no .submission-* temporary file either

    def collect_on_windows(self, kit, refusals, status):
        """kit.main() as on Windows, with os.replace refused `refusals` times; asserts its exit `status` and
        returns (the replaces tried, stderr)."""
        calls, replace = refusing_replace(refusals)
        err = io.StringIO()
        with mock.patch("os.name", "nt"), mock.patch("os.replace", replace), mock.patch("time.sleep"), \
                contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            self.assertEqual(kit.main([]), status)
        return calls, err

    def test_on_windows_a_zip_open_elsewhere_is_waited_for_then_named(self):
        earlier = self.collect_earlier_zip()
        kit = self.copy_imported()
        for refusals, status in ((3, 0), (100, 2)):  # held a moment (a virus scan), or until the user acts
            with self.subTest(refusals=refusals):
                calls, err = self.collect_on_windows(kit, refusals, status)
                if status:
                    self.assertEqual(len(calls), 6)
                    self.assertTrue(err.getvalue().endswith("is it open in another program? close it there); any "
                                                            f"earlier {ZIP} is kept\n"), err.getvalue())
                    self.assert_kept(earlier)
                else:
                    self.assertEqual(len(calls), 4)
                    with zipfile.ZipFile(self.zip) as archive:
                        self.assertEqual(sorted(archive.namelist()), graded_files())

    def test_ctrl_c_just_after_the_rename_is_exit_130_and_the_new_zip_stays(self):
        kit = self.copy_imported()
        real_replace = os.replace

        def replace_then_stop(source, target):
            real_replace(source, target)
            raise KeyboardInterrupt
        err = io.StringIO()
        with mock.patch("os.replace", replace_then_stop), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(err):
            self.assertEqual(kit.main([]), 130)
        self.assertIn("interrupted", err.getvalue())
        with zipfile.ZipFile(self.zip) as archive:
            self.assertEqual(sorted(archive.namelist()), graded_files())
        self.assertEqual([name for name in os.listdir(self.part) if name.startswith(".submission-")], [])

    def test_on_windows_a_first_zip_held_by_a_virus_scanner_is_waited_for_too(self):
        kit = self.copy_imported()
        for refusals, status in ((3, 0), (100, 2)):  # a scan done in a moment; a new zip held on
            with self.subTest(refusals=refusals):
                calls, err = self.collect_on_windows(kit, refusals, status)
                self.assertEqual((len(calls), os.path.exists(self.zip)), (6 if status else 4, not status))
                if status:
                    self.assertNotIn("another program", err.getvalue())
                else:
                    os.remove(self.zip)

    @unittest.skipIf(os.name == "nt", "os.kill(pid, SIGTERM) ends a Windows process outright")
    def test_kill_while_writing_ends_with_status_143_and_leaves_the_earlier_zip(self):
        earlier = self.collect_earlier_zip()
        launcher = ("import os, runpy, signal, sys, zipfile; "  # SIGTERM as the first file goes in
                    "zipfile.ZipFile.write = lambda *a, **k: os.kill(os.getpid(), signal.SIGTERM); "
                    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")
        result = subprocess.run([sys.executable, "-c", launcher, os.path.join(self.part, "collect_submission.py")],
                                cwd=self.elsewhere, capture_output=True, text=True, timeout=120)
        self.assertEqual((result.returncode, result.stderr),
                         (143, f"collect_submission.py: stopped by SIGTERM; {ZIP} not written, any earlier one is "
                               "kept\n"))
        self.assert_kept(earlier)  # no .submission-* temporary file either

    def test_a_killed_runs_temporary_zip_is_cleared_and_a_live_ones_kept(self):
        names = (".submission-k1lled_x.zip.tmp", ".submission-live0000.zip.tmp", ".submission-mine.zip.tmp",
                 ".notes.zip.tmp")  # mkstemp's: the prefix and 8 random characters; the last two are not
        for name in names:
            with open(os.path.join(self.part, name), "wb") as f:
                f.write(b"PK half a zip")
        for name in (names[0], *names[2:]):  # left an hour and more ago
            old = os.path.getmtime(os.path.join(self.part, name)) - 3660
            os.utime(os.path.join(self.part, name), (old, old))
        self.assertEqual(self.collect().returncode, 0)
        left = os.listdir(self.part)
        self.assertEqual([name for name in (*names, ZIP) if name in left], [*names[1:], ZIP])

    def test_unknown_arguments_are_one_line(self):
        result = subprocess.run(
            [sys.executable, os.path.join(self.part, "collect_submission.py"), "extra.zip"], cwd=self.elsewhere,
            capture_output=True, text=True, timeout=120)
        self.assert_one_line_error(result, "extra.zip", "takes no arguments")
        self.assertFalse(os.path.exists(self.zip))


if __name__ == "__main__":
    unittest.main()
