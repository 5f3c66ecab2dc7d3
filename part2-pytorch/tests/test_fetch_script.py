"""data/fetch_cifar10.py run as the user runs it, on small crafted archives in a scratch copy of the data folder.

Each case asserts what is on disk afterwards: a complete cifar-10-batches-py, or nothing but the script.
The same file lies in both parts, like the script itself.
"""
import contextlib
import errno
import hashlib
import importlib.util
import io
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import types
import unittest
from unittest import mock

import numpy as np

PART = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OTHER_PART = os.path.join(os.path.dirname(PART), "part2-pytorch" if PART.endswith("part1-convnet") else "part1-convnet")
SHARED_FILES = ["data/fetch_cifar10.py", "data/get_data.sh", "data/get_data.bat", "data/cifar_batches.py",
                "tests/test_fetch_script.py"]
BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
# the wrappers' python3 is the one running the tests, not whatever comes first on PATH (Git Bash on Windows)
WITH_THIS_PYTHON = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")


def setUpModule():
    """Python's Ctrl-C handler, even in a suite started in the background (SIGINT ignored, as for `cmd &`)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def load_fetch_module():
    spec = importlib.util.spec_from_file_location("fetch_cifar10", os.path.join(PART, "data", "fetch_cifar10.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def real_sized_batch():
    """A batch as the real archive holds it (10,000 images, labels 0..9), all zeros: it gzips to almost nothing."""
    return pickle.dumps({"batch_label": "crafted", "labels": [i % 10 for i in range(10000)],
                         "data": np.zeros((10000, 3072), np.uint8)}, protocol=2)


def write_archive(path, files, links=()):
    """A .tar.gz holding cifar-10-batches-py/<name> for each (name, bytes) and symlinks (name, target); its md5."""
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name, content in files:
            info = tarfile.TarInfo(name if name.startswith("..") else f"cifar-10-batches-py/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for name, target in links:
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


class FetchScript(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.archives = tempfile.TemporaryDirectory()
        batch = real_sized_batch()
        meta = pickle.dumps({"label_names": [str(i) for i in range(10)]}, protocol=2)
        cls.good = os.path.join(cls.archives.name, "good.tar.gz")
        cls.good_md5 = write_archive(cls.good, [("batches.meta", meta)] + [(name, batch) for name in BATCHES])

    @classmethod
    def tearDownClass(cls):
        cls.archives.cleanup()

    def setUp(self):
        self.temporary = tempfile.TemporaryDirectory()
        self.data = os.path.join(self.temporary.name, "data")
        os.makedirs(self.data)
        for name in ("fetch_cifar10.py", "get_data.sh"):
            shutil.copy(os.path.join(PART, "data", name), self.data)
        self.folder = os.path.join(self.data, "cifar-10-batches-py")

    def tearDown(self):
        for root, folders, _ in os.walk(self.temporary.name):  # undo a read-only test's chmod
            for folder in folders:
                os.chmod(os.path.join(root, folder), 0o755)
        self.temporary.cleanup()

    def archive(self, name, files=(), links=()):
        """(path, md5) of a crafted archive in this test's scratch folder."""
        path = os.path.join(self.temporary.name, name)
        return path, write_archive(path, files, links)

    def command(self, archive, md5, cwd=None, prefix=()):
        environment = {k: v for k, v in os.environ.items() if not k.startswith("CIFAR10_")}
        environment.update(CIFAR10_ARCHIVE=archive, CIFAR10_MD5=md5, PATH=WITH_THIS_PYTHON)
        return dict(args=[*prefix, os.path.join(self.data, "fetch_cifar10.py")], cwd=cwd or self.temporary.name,
                    env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def fetch(self, archive, md5, cwd=None):
        return subprocess.run(timeout=120, **self.command(archive, md5, cwd, prefix=[sys.executable]))

    def assert_refused(self, result, *fragments, status=1):
        """One line on stderr, exit 1 (2 for a wrong setting), and nothing left beside the script."""
        self.assertEqual(result.returncode, status, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
        self.assertTrue(result.stderr.startswith("get_data: error: "), result.stderr)
        for fragment in fragments:
            self.assertIn(fragment, result.stderr)
        self.assertEqual(sorted(os.listdir(self.data)), ["fetch_cifar10.py", "get_data.sh"])

    def test_good_archive_by_a_relative_path_replaces_a_damaged_copy(self):
        os.makedirs(self.folder)
        for name in ["batches.meta"] + BATCHES:  # an earlier copy of seven 1-byte files
            with open(os.path.join(self.folder, name), "wb") as f:
                f.write(b"x")
        caller = os.path.join(self.temporary.name, "caller")
        os.makedirs(caller)
        shutil.copy(self.good, caller)
        prefix = ["sh", os.path.join(self.data, "get_data.sh")] if shutil.which("sh") else [sys.executable]
        options = self.command("good.tar.gz", self.good_md5, cwd=caller)
        if prefix[0] == "sh":
            options["args"] = prefix
        result = subprocess.run(timeout=120, **options)
        self.assertEqual((result.returncode, result.stderr), (0, ""))  # not a terminal: no progress output
        self.assertIn("fetching it again", result.stdout)
        self.assertEqual(sorted(os.listdir(self.data)), ["cifar-10-batches-py", "fetch_cifar10.py", "get_data.sh"])
        self.assertEqual(sorted(os.listdir(self.folder)), sorted(["batches.meta"] + BATCHES))
        self.assertEqual(os.path.getsize(os.path.join(self.folder, "test_batch")), len(real_sized_batch()))
        again = self.fetch("absent.tar.gz", "0")  # checked data is there: the archive is not even looked at
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn("nothing to do", again.stdout)

    def test_truncated_archive(self):
        with open(self.good, "rb") as f:
            whole = f.read()
        path = os.path.join(self.temporary.name, "truncated.tar.gz")
        with open(path, "wb") as f:
            f.write(whole[:len(whole) // 2])
        self.assert_refused(self.fetch(path, hashlib.md5(whole[:len(whole) // 2]).hexdigest()), path, ".tar.gz")

    def test_corrupt_gzip_stream(self):
        with open(self.good, "rb") as f:
            damaged = bytearray(f.read())
        damaged[20:36] = b"\xff" * 16  # early in the deflate stream: zlib reports it
        path = os.path.join(self.temporary.name, "corrupt.tar.gz")
        with open(path, "wb") as f:
            f.write(damaged)
        self.assert_refused(self.fetch(path, hashlib.md5(damaged).hexdigest()), path, "zlib")

    def test_seven_one_byte_files_are_refused_even_with_a_matching_md5(self):
        path, md5 = self.archive("tiny.tar.gz", [(name, b"x") for name in ["batches.meta"] + BATCHES])
        self.assert_refused(self.fetch(path, md5), path, "cifar-10-batches-py/", "python version")

    def test_batches_with_too_few_images_or_bad_labels_are_refused(self):
        meta = pickle.dumps({"label_names": []}, protocol=2)
        small = pickle.dumps({"labels": [0] * 10, "data": np.zeros((10, 3072), np.uint8)}, protocol=2)
        path, md5 = self.archive("small.tar.gz", [("batches.meta", meta)] + [(name, small) for name in BATCHES])
        self.assert_refused(self.fetch(path, md5), "data_batch_1", "10000 x 3072")
        labels = pickle.dumps({"labels": [10] * 10000, "data": np.zeros((10000, 3072), np.uint8)}, protocol=2)
        path, md5 = self.archive("labels.tar.gz", [("batches.meta", meta)] + [(name, labels) for name in BATCHES])
        self.assert_refused(self.fetch(path, md5), "data_batch_1", "0..9")

    def test_a_batch_that_would_run_code_is_refused(self):
        marker = os.path.join(self.temporary.name, "marker")
        evil = b"cos\nsystem\n(S'touch " + marker.encode() + b"'\ntR."
        path, md5 = self.archive("evil.tar.gz", [(name, evil) for name in ["batches.meta"] + BATCHES])
        self.assert_refused(self.fetch(path, md5), "batches.meta")
        self.assertFalse(os.path.exists(marker))

    def test_a_batch_at_pickle_protocol_5_is_sound_and_bytes_of_any_size_is_refused(self):
        # protocol 5 is Python 3.14's default: numpy writes an array through _frombuffer, which the loaders read
        fetch, path = load_fetch_module(), os.path.join(self.temporary.name, "data_batch_1")
        with open(path, "wb") as f:
            f.write(pickle.dumps(pickle.loads(real_sized_batch()), protocol=5))
        self.assertIsNone(fetch.batch_problem(path))

        class AsksForBytes:  # pickles as builtins.bytes(n): a few bytes of file asking for n bytes of memory
            def __reduce__(self):
                return bytes, (10 ** 9,)
        with open(path, "wb") as f:
            f.write(pickle.dumps({"labels": [0] * 10000, "data": AsksForBytes()}, protocol=2))
        self.assertIn("bytes(n)", fetch.batch_problem(path))

    def test_path_traversal_and_symlink_members(self):
        path, md5 = self.archive("escape.tar.gz", [("../escape", b"x")])
        self.assert_refused(self.fetch(path, md5), "unsafe entry", "../escape")
        self.assertFalse(os.path.exists(os.path.join(self.temporary.name, "escape")))
        path, md5 = self.archive("link.tar.gz", [("batches.meta", b"x")], links=[("test_batch", "/etc/passwd")])
        self.assert_refused(self.fetch(path, md5), "unsafe entry", "test_batch")

    def test_a_file_and_a_folder_of_one_name_is_the_archives_fault(self):
        for first, then in ((tarfile.DIRTYPE, tarfile.REGTYPE), (tarfile.REGTYPE, tarfile.DIRTYPE)):
            with self.subTest(first=first, then=then):
                path = os.path.join(self.temporary.name, "clash.tar.gz")
                with tarfile.open(path, "w:gz") as tar:
                    for kind in (first, then):
                        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
                        info.type, info.size = kind, 2 if kind == tarfile.REGTYPE else 0
                        tar.addfile(info, io.BytesIO(b"ab") if kind == tarfile.REGTYPE else None)
                with open(path, "rb") as f:
                    md5 = hashlib.md5(f.read()).hexdigest()
                said = ["two entries of one name"] if first == tarfile.DIRTYPE else []  # a folder after the file:
                self.assert_refused(self.fetch(path, md5), *said, "CIFAR-10 python version")  # tarfile passes over

    def test_a_full_or_read_only_disk_while_unpacking_is_named_with_its_fix(self):
        fetch = load_fetch_module()
        for error, fix in ((OSError(errno.ENOSPC, "No space left on device"), "free some disk space"),
                           (OSError(errno.EROFS, "Read-only file system"), "copy the kit to a disk you can write to"),
                           (OSError(errno.EIO, "Input/output error"), "check the disk")):
            with self.subTest(error=error.strerror), mock.patch.object(fetch.tarfile.TarFile, "extractall",
                                                                       side_effect=error), \
                    self.assertRaises(fetch.FetchError) as raised:
                fetch.safe_extract(self.good, os.path.join(self.data, ".cifar-work"), "refetch")
            self.assertEqual(str(raised.exception), f"cannot unpack {self.good} in {os.path.realpath(self.data)} "
                                                    f"({error.strerror}); {fix}" + (" (it failed to write)"
                                                                                   if fix == "check the disk" else ""))

    def test_a_reader_that_goes_away_does_not_stop_the_fetch(self):
        for unbuffered in ("", "1"):  # block-buffered stdout fails at exit; unbuffered at the first line
            with self.subTest(PYTHONUNBUFFERED=unbuffered):
                shutil.rmtree(self.folder, ignore_errors=True)
                options = self.command(self.good, self.good_md5, prefix=[sys.executable])
                options["env"]["PYTHONUNBUFFERED"] = unbuffered
                process = subprocess.Popen(**options)
                process.stdout.close()  # as `| head -0` does
                err = process.stderr.read()
                process.stderr.close()
                self.assertEqual((process.wait(timeout=120), err), (0, ""))
                self.assertEqual(sorted(os.listdir(self.folder)), sorted(["batches.meta"] + BATCHES))

    def test_output_on_a_full_disk_does_not_stop_the_fetch(self):
        # every write to stdout fails, as under `> log` on a full disk (/dev/full on Linux), whatever the system
        launcher = ("import errno, io, os, runpy, sys\n"
                    "class FullDisk(io.TextIOWrapper):\n"
                    "    def write(self, text):\n"
                    "        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))\n"
                    "sys.stdout = FullDisk(open(os.devnull, 'wb'), encoding='utf-8')\n"
                    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')\n")
        options = self.command(self.good, self.good_md5)
        options["args"] = [sys.executable, "-c", launcher, *options["args"]]
        result = subprocess.run(timeout=120, **options)
        self.assertEqual((result.returncode, result.stderr), (0, ""))
        self.assertEqual(sorted(os.listdir(self.folder)), sorted(["batches.meta"] + BATCHES))

    def test_any_console_works(self):
        # no stdout or stderr at all (pythonw on Windows, or `>&-`): the fetch goes on in silence
        options = self.command(self.good, self.good_md5)
        launcher = ("import runpy, sys; sys.stdout = sys.stderr = None; sys.argv = sys.argv[1:]; "
                    "runpy.run_path(sys.argv[0], run_name='__main__')")
        options["args"] = [sys.executable, "-c", launcher, *options["args"]]
        self.assertEqual(subprocess.run(timeout=120, **options).returncode, 0)
        self.assertEqual(sorted(os.listdir(self.folder)), sorted(["batches.meta"] + BATCHES))
        # a console whose encoding lacks a character of a path it prints: written as an escape
        self.data = shutil.move(self.data, os.path.join(self.temporary.name, "données"))
        self.folder = os.path.join(self.data, "cifar-10-batches-py")
        shutil.rmtree(self.folder)
        options = self.command(self.good, self.good_md5, prefix=[sys.executable])
        options["env"]["PYTHONIOENCODING"] = "ascii"
        result = subprocess.run(timeout=120, **options)
        self.assertEqual((result.returncode, result.stderr), (0, ""))
        self.assertIn("donn\\xe9es", result.stdout)
        self.assertEqual(sorted(os.listdir(self.folder)), sorted(["batches.meta"] + BATCHES))

    def test_md5_mismatch_and_missing_archive(self):
        self.assert_refused(self.fetch(self.good, "0" * 32), "md5", self.good, self.good_md5)
        self.assert_refused(self.fetch("absent.tar.gz", self.good_md5), "absent.tar.gz", "does not exist", status=2)
        self.assert_refused(self.fetch(self.temporary.name, self.good_md5), "is a folder", status=2)
        if os.path.exists(os.devnull) and not os.path.isfile(os.devnull):  # /dev/null; Windows' nul is no path
            self.assert_refused(self.fetch(os.devnull, self.good_md5), "is not a regular file", status=2)

    def test_an_argument_is_one_line_and_fetches_nothing(self):
        commands = [[sys.executable, os.path.join(self.data, "fetch_cifar10.py")]]
        if shutil.which("sh"):  # the wrapper passes its arguments on: an archive given as one is not ignored
            commands.append(["sh", os.path.join(self.data, "get_data.sh")])
        for command in commands:
            with self.subTest(command=command[0]):
                result = subprocess.run(command + [self.good], capture_output=True, text=True, timeout=120,
                                        env=dict(os.environ, PATH=WITH_THIS_PYTHON))
                self.assertEqual((result.returncode, result.stdout), (2, ""))
                self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)
                self.assertIn("takes no arguments", result.stderr)
                self.assertEqual(sorted(os.listdir(self.data)), ["fetch_cifar10.py", "get_data.sh"])

    def test_an_md5_that_is_no_sum_is_refused_and_an_empty_one_means_the_canonical_sum(self):
        self.assert_refused(self.fetch(self.good, "not-a-sum"), "CIFAR10_MD5=not-a-sum is not an md5 sum", status=2)
        self.assert_refused(self.fetch(self.good, "abc\n\x1b[2Jrm"), "CIFAR10_MD5=abc\\n\\x1b[2jrm is not", status=2)
        for blank in ("", "  "):
            self.assert_refused(self.fetch(self.good, blank), "expected c58f30108f718f92721af3b95e74349a")
        result = self.fetch(self.good, f" {self.good_md5.upper()} ")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(sorted(os.listdir(self.folder)), sorted(["batches.meta"] + BATCHES))

    def test_stale_work_folder_of_a_dead_run_is_removed_and_a_live_one_kept(self):
        fetch = load_fetch_module()
        dead, live = (os.path.join(self.data, f".cifar-{pid}-x") for pid in ("12345", "67890"))
        for folder in (dead, live):
            os.makedirs(os.path.join(folder, "cifar-10-batches-py"))
            with open(os.path.join(folder, fetch.OWNER_LOCK), "wb") as f:
                f.write(b"\0")
        with open(os.path.join(live, fetch.OWNER_LOCK), "r+b") as held:
            if not fetch._try_lock(held):
                self.skipTest("file locks are not available here")
            result = self.fetch(self.good, "0" * 32)  # fails (md5), after sweeping
            self.assertFalse(os.path.exists(dead))
            self.assertTrue(os.path.isdir(live))
        shutil.rmtree(live)
        self.assert_refused(result, "md5")

    def test_on_windows_the_owner_lock_is_released_before_its_file_is_closed(self):
        fetch, calls, held = load_fetch_module(), [], {}

        def locking(fd, mode, size):  # msvcrt.locking's rules: one holder; only the holder may unlock
            calls.append(mode)
            if held.get("fd", fd) != fd or (mode == "unlock") != ("fd" in held):
                raise OSError("locked by another handle" if mode == "lock" else "not locked by this handle")
            held.pop("fd") if mode == "unlock" else held.update(fd=fd)

        msvcrt = types.SimpleNamespace(LK_NBLCK="lock", LK_UNLCK="unlock", locking=locking)
        environment = dict(CIFAR10_ARCHIVE=self.good, CIFAR10_MD5=self.good_md5)
        with mock.patch.dict(sys.modules, msvcrt=msvcrt), mock.patch.object(fetch.os, "name", "nt"), \
                mock.patch.dict(os.environ, environment), contextlib.redirect_stdout(io.StringIO()):
            work, lock = fetch.make_work_folder(self.data)
            self.assertFalse(fetch._owner_is_gone(work))  # held by us: a live run's folder
            fetch._unlock(lock)
            self.assertEqual((calls, held, lock.closed), (["lock", "lock", "unlock", "unlock"], {}, True))
            shutil.rmtree(work)
            self.assertEqual(fetch.fetch(self.data), 0)
        self.assertEqual((calls[4:], held), (["lock", "unlock"], {}))  # a whole fetch releases its lock too
        self.assertTrue(os.path.isdir(self.folder))

    def test_a_sound_copy_another_fetch_installs_first_is_kept_as_done(self):
        fetch, ours, theirs = load_fetch_module(), os.path.join(self.data, ".work"), os.path.join(self.data, ".other")
        for folder in (ours, theirs):
            fetch.safe_extract(self.good, folder, "fetch again")
        real_replace_when_free = fetch.replace_when_free

        def theirs_lands_first(folder, target):  # between our check of the folder and our move into it
            if not os.path.exists(self.folder):
                os.replace(os.path.join(theirs, "cifar-10-batches-py"), self.folder)
            return real_replace_when_free(folder, target)
        with mock.patch.object(fetch, "replace_when_free", theirs_lands_first):
            fetch.install(os.path.join(ours, "cifar-10-batches-py"), self.folder, ours)
        self.assertIsNone(fetch.folder_problem(self.folder))
        fetch.install(os.path.join(ours, "cifar-10-batches-py"), self.folder, ours)  # sound there already: kept
        self.assertTrue(os.path.isdir(os.path.join(ours, "cifar-10-batches-py")))  # ours goes with the work folder
        self.assertIsNone(fetch.folder_problem(self.folder))

    def test_on_windows_a_folder_held_open_is_tried_again_then_refused_in_one_line(self):
        fetch, real_replace = load_fetch_module(), os.replace
        msvcrt = types.SimpleNamespace(LK_NBLCK="lock", LK_UNLCK="unlock", locking=lambda fd, mode, size: None)
        environment = dict(CIFAR10_ARCHIVE=self.good, CIFAR10_MD5=self.good_md5)
        for refusals in (2, 99):  # a virus scanner done in a moment; a window that stays inside the folder
            with self.subTest(refusals=refusals):
                tries = []

                def replace(source, target):
                    tries.append(source)
                    if len(tries) <= refusals:
                        raise PermissionError(errno.EACCES, "Access is denied", source)
                    real_replace(source, target)

                with mock.patch.dict(sys.modules, msvcrt=msvcrt), mock.patch.object(fetch.os, "name", "nt"), \
                        mock.patch.object(fetch.os, "replace", replace), mock.patch.object(fetch.time, "sleep"), \
                        mock.patch.dict(os.environ, environment), contextlib.redirect_stdout(io.StringIO()):
                    if refusals == 2:
                        self.assertEqual(fetch.fetch(self.data), 0)
                    else:
                        with self.assertRaises(fetch.FetchError) as raised:
                            fetch.fetch(self.data)
                if refusals == 2:
                    self.assertEqual(len(tries), 3)
                    self.assertEqual(fetch.folder_problem(self.folder), None)
                    shutil.rmtree(self.folder)
                else:
                    self.assertEqual(len(tries), 7)  # six waits, then the one line
                    self.assertIn("is a file in it open in another program", str(raised.exception))
                self.assertEqual(sorted(os.listdir(self.data)), ["fetch_cifar10.py", "get_data.sh"])

    def test_destination_that_cannot_be_created(self):
        with open(self.folder, "w") as f:  # a regular file where the folder must go
            f.write("keep me")
        result = self.fetch(self.good, self.good_md5)
        with open(self.folder) as f:
            self.assertEqual(f.read(), "keep me")
        os.remove(self.folder)
        self.assert_refused(result, self.folder, "not a folder")

    @unittest.skipIf(os.name == "nt" or os.geteuid() == 0, "root (or Windows) ignores a read-only folder's mode")
    def test_read_only_folder(self):
        os.chmod(self.data, 0o555)
        result = self.fetch(self.good, self.good_md5)
        os.chmod(self.data, 0o755)
        self.assert_refused(result, "cannot create a temporary folder", self.data)

    def test_a_read_only_disk_is_told_to_copy_the_kit(self):
        fetch = load_fetch_module()
        for error, fix in ((OSError(errno.EROFS, "Read-only file system"), "copy the kit to a disk you can write to"),
                           (PermissionError(errno.EACCES, "Permission denied"), "make that folder writable")):
            with self.subTest(error=error.strerror), mock.patch.object(fetch.tempfile, "mkdtemp", side_effect=error), \
                    self.assertRaises(fetch.FetchError) as raised:
                fetch.make_work_folder(self.data)
            self.assertTrue(str(raised.exception).startswith(f"cannot create a temporary folder in {self.data} "
                                                             f"({error.strerror}); {fix}"), raised.exception)

    @unittest.skipIf(os.name == "nt", "os.kill(pid, SIGINT or SIGTERM) ends a Windows process outright")
    def test_ctrl_c_or_kill_is_one_line_exit_128_plus_the_signal_and_nothing_left(self):
        # the md5 takes a minute; the signal comes while the work folder exists
        slow = ("import hashlib, runpy, sys, time; hashlib.md5 = lambda *a, **k: time.sleep(60); "
                "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")
        for stop, how in ((signal.SIGINT, "interrupted"), (signal.SIGTERM, "stopped by SIGTERM")):
            with self.subTest(signal=stop.name):
                options = self.command(self.good, self.good_md5)
                options["args"] = [sys.executable, "-c", slow, *options["args"]]
                child = subprocess.Popen(**options)
                deadline = time.monotonic() + 30
                while (not any(name.startswith(".cifar-") for name in os.listdir(self.data))
                       and time.monotonic() < deadline):
                    time.sleep(0.05)
                child.send_signal(stop)
                _, err = child.communicate(timeout=30)
                self.assertEqual((child.returncode, err), (128 + stop, f"get_data: {how}; nothing was kept\n"))
                self.assertEqual(sorted(os.listdir(self.data)), ["fetch_cifar10.py", "get_data.sh"])

    def test_ctrl_c_while_the_work_folder_is_made_leaves_nothing(self):
        interrupted = ("import sys; sys.path.insert(0, sys.argv.pop(1)); import fetch_cifar10 as f\n"
                       "def ctrl_c(lock): raise KeyboardInterrupt  # after mkdtemp, before fetch() can clean up\n"
                       "f._try_lock = ctrl_c; sys.exit(f.main())")
        options = self.command(self.good, self.good_md5)
        options["args"] = [sys.executable, "-c", interrupted, self.data]
        result = subprocess.run(timeout=120, **options)
        self.assertEqual(result.returncode, 130, result.stderr)
        self.assertEqual(sorted(os.listdir(self.data)), ["fetch_cifar10.py", "get_data.sh"])


class Progress(unittest.TestCase):
    def test_without_tqdm_a_line_per_tenth(self):
        progress = load_fetch_module()._Progress()
        progress.tqdm = None
        stderr, sys.stderr = sys.stderr, io.StringIO()
        try:
            for block in range(101):
                progress(block, 10, 1000)
            lines = sys.stderr.getvalue().split()
        finally:
            sys.stderr = stderr
        self.assertEqual(lines, [f"{10 * i}%" for i in range(1, 11)])


class SharedCopies(unittest.TestCase):
    def test_both_parts_hold_the_same_data_scripts(self):
        if not os.path.isdir(OTHER_PART):
            self.skipTest(f"{OTHER_PART} is absent: nothing to compare with")
        for name in SHARED_FILES:
            with self.subTest(name=name):
                with open(os.path.join(PART, name), "rb") as mine, open(os.path.join(OTHER_PART, name), "rb") as theirs:
                    self.assertEqual(mine.read(), theirs.read(), f"{name} differs between the parts: copy it across")

    def test_both_hand_in_batch_files_find_python_alike(self):  # part 1's tests read what each line does
        if not os.path.isdir(OTHER_PART):
            self.skipTest(f"{OTHER_PART} is absent: nothing to compare with")
        commands = []
        for part in (PART, OTHER_PART):
            with open(os.path.join(part, "collect_submission.bat"), "rb") as f:
                commands.append([line for line in f.read().splitlines() if not line.lower().startswith(b"rem ")])
        self.assertEqual(commands[0], commands[1], "collect_submission.bat differs beyond its comments")


if __name__ == "__main__":
    unittest.main()
