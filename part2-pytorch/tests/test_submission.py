import ast
import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile
from unittest import mock

import torch

from checkpointing import read_weights
from tests.helpers import PART2

# the wrapper's python3 is the one running the tests, not whatever comes first on PATH (Git Bash on Windows)
WITH_THIS_PYTHON = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


def local_imports(path, seen=None):
    """The part-2 modules and packages that the file at `path` imports, followed recursively."""
    seen = set() if seen is None else seen
    with open(path) as f:
        tree = ast.parse(f.read())
    names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    names += [node.module for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module and not node.level]
    for name in {name.split(".")[0] for name in names} - seen:
        module, package = os.path.join(PART2, name + ".py"), os.path.join(PART2, name, "__init__.py")
        if os.path.exists(module) or os.path.exists(package):
            seen.add(name)
            if os.path.exists(module):
                local_imports(module, seen)
    return seen


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


class WhatGoesIn(unittest.TestCase):
    def test_hidden_temporary_and_locked_files_byte_code_and_data_stay_out(self):
        import collect_submission
        with tempfile.TemporaryDirectory() as root:
            for path in ("configs/a.yaml", "configs/.secret", "models/m.py", "models/.DS_Store", "models/notes.tmp",
                         "models/__pycache__/m.cpython-311.pyc", "models/__pycache__/notes", "models/.hidden/x.py",
                         "checkpoints/x.pth", "checkpoints/x.pth.tmp", "checkpoints/x.pth.lock", "losses/l.py",
                         "data/dataset.py", "data/archive.tar.gz", "data/cifar-10-batches-py/data_batch_1"):
                os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
                open(os.path.join(root, path), "w").close()
            if hasattr(os, "mkfifo"):  # a named pipe: zipping it would wait for a writer
                os.mkfifo(os.path.join(root, "configs", "pipe.yaml"))
            paths = collect_submission.submission_files(root)[len(collect_submission.FILES):]
        self.assertEqual([path.replace(os.sep, "/") for path in paths],
                         ["configs/a.yaml", "losses/l.py", "checkpoints/x.pth", "models/m.py", "data/dataset.py"])

    def test_a_linked_folder_goes_in_and_a_link_back_is_walked_once(self):
        import collect_submission
        with tempfile.TemporaryDirectory() as root, tempfile.TemporaryDirectory() as outside:
            os.makedirs(os.path.join(root, "models"))
            open(os.path.join(outside, "block.py"), "w").close()
            try:
                os.symlink(outside, os.path.join(root, "models", "mine"), target_is_directory=True)
                os.symlink(os.path.join(root, "models"), os.path.join(outside, "back"), target_is_directory=True)
            except OSError:  # Windows without the right to make links
                self.skipTest("cannot make a symbolic link here")
            paths = [path.replace(os.sep, "/") for path in collect_submission.submission_files(root)]
        self.assertEqual(paths[len(collect_submission.FILES):], ["models/mine/block.py"])

    def test_only_an_earlier_submission_is_replaced(self):
        import collect_submission
        with tempfile.TemporaryDirectory() as folder:
            for names, replaceable in ((["main.py", "configs/x.yaml"], True), (["configs/x.yaml"], False),
                                       (["main.py"], False), (["notes.txt"], False)):
                with self.subTest(names=names):
                    path = os.path.join(folder, "earlier.zip")
                    with zipfile.ZipFile(path, "w") as archive:
                        for name in names:
                            archive.writestr(name, "x")
                    self.assertIs(collect_submission.is_part2_submission(path), replaceable)
                    self.assertEqual(collect_submission.target_problem(path) is None, replaceable)

    def test_a_zip_written_inside_a_zipped_folder_leaves_itself_out(self):
        import collect_submission
        here = os.getcwd()
        self.addCleanup(os.chdir, here)  # main() works from the script's folder
        with tempfile.TemporaryDirectory() as root:
            for path in (*collect_submission.FILES, "configs/a.yaml", "checkpoints/x.pth"):
                os.makedirs(os.path.dirname(os.path.join(root, path)) or root, exist_ok=True)
                open(os.path.join(root, path), "w").close()
            target = os.path.join(root, "checkpoints", "hand-in.zip")
            with mock.patch.object(collect_submission, "__file__", os.path.join(root, "collect_submission.py")), \
                    mock.patch("sys.argv", ["collect_submission.py", target]), \
                    contextlib.redirect_stdout(io.StringIO()):
                for _ in range(2):  # the second time, the first zip lies among the files collected
                    self.assertEqual(collect_submission.main(), 0)
            os.chdir(here)  # out of the folder before it is removed (Windows refuses otherwise)
            with zipfile.ZipFile(target) as archive:
                names = archive.namelist()
        self.assertIn("checkpoints/x.pth", names)
        self.assertNotIn("checkpoints/hand-in.zip", names)


class CollectSubmission(unittest.TestCase):
    def test_the_zip_holds_what_main_needs_and_runs(self):
        with tempfile.TemporaryDirectory() as folder:
            target = os.path.join(folder, "submission.zip")
            script = os.path.join(PART2, "collect_submission.sh")
            command = ["sh", script] if shutil.which("sh") else [sys.executable, script.replace(".sh", ".py")]
            subprocess.run([*command, target], check=True, capture_output=True, env=WITH_THIS_PYTHON)
            with zipfile.ZipFile(target) as archive:
                names = archive.namelist()
                archive.extractall(os.path.join(folder, "unpacked"))
            for required in ("main.py", "configs/config_twolayer.yaml", "configs/config_resnet32.yaml",
                             "losses/focal_loss.py", "models/resnet.py", "data/dataset_cifar.py"):
                self.assertIn(required, names)
            for name in local_imports(os.path.join(PART2, "main.py")):
                self.assertTrue(name + ".py" in names or name + "/__init__.py" in names, name)
            self.assertFalse([name for name in names if "cifar-10-batches-py" in name or "__pycache__" in name])
            help_run = subprocess.run([sys.executable, "main.py", "--help"], cwd=os.path.join(folder, "unpacked"),
                                      capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
            self.assertEqual(help_run.returncode, 0, help_run.stderr)
            self.assertIn("--config", help_run.stdout)

    def test_a_file_dated_before_1980_goes_in_dated_1980(self):
        with tempfile.TemporaryDirectory() as folder:
            part = shutil.copytree(PART2, os.path.join(folder, "part2-pytorch"), ignore=shutil.ignore_patterns(
                "cifar-10-batches-py", "runs", "results", "__pycache__", "*.tar.gz"))
            os.utime(os.path.join(part, "configs", "config_twolayer.yaml"), (0, 0))  # 1970, as an unpacker may set
            target = os.path.join(folder, "submission.zip")
            result = subprocess.run([sys.executable, os.path.join(part, "collect_submission.py"), target],
                                    capture_output=True, text=True, timeout=120)
            self.assertEqual((result.returncode, result.stderr), (0, ""))
            with zipfile.ZipFile(target) as archive:
                self.assertEqual(archive.getinfo("configs/config_twolayer.yaml").date_time, (1980, 1, 1, 0, 0, 0))
                self.assertIsNone(archive.testzip())

    def test_a_reader_that_is_gone_gets_no_traceback_and_the_zip_is_whole(self):
        with tempfile.TemporaryDirectory() as folder:
            target = os.path.join(folder, "submission.zip")
            process = subprocess.Popen([sys.executable, os.path.join(PART2, "collect_submission.py"), target],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            process.stdout.close()  # as `| head -0` does: "wrote ..." meets a closed pipe
            err = process.stderr.read()
            process.stderr.close()
            self.assertEqual((process.wait(timeout=120), err), (1, ""))
            with zipfile.ZipFile(target) as archive:
                self.assertIsNone(archive.testzip())
                self.assertIn("main.py", archive.namelist())

    @unittest.skipIf(os.name == "nt", "os.kill(pid, SIGTERM) ends a Windows process outright")
    def test_kill_while_zipping_waits_for_the_whole_zip_and_leaves_no_temporary_file(self):
        # SIGTERM comes as the first file goes in; the zip is finished, then the script ends as `kill` asked
        launcher = ("import os, runpy, signal, sys, zipfile; write = zipfile.ZipFile.write; "
                    "zipfile.ZipFile.write = lambda *a, **k: (os.kill(os.getpid(), signal.SIGTERM), write(*a, **k)); "
                    f"sys.path.insert(0, {PART2!r}); sys.argv = sys.argv[1:]; "
                    "runpy.run_path(sys.argv[0], run_name='__main__')")
        with tempfile.TemporaryDirectory() as folder:
            target = os.path.join(folder, "submission.zip")
            result = subprocess.run([sys.executable, "-c", launcher, os.path.join(PART2, "collect_submission.py"),
                                     target], capture_output=True, text=True, timeout=120)
            self.assertEqual((result.returncode, result.stdout, result.stderr), (143, "", "\nstopped by SIGTERM\n"))
            self.assertEqual(os.listdir(folder), ["submission.zip"])
            with zipfile.ZipFile(target) as archive:
                self.assertIsNone(archive.testzip())
                self.assertIn("main.py", archive.namelist())

    def test_a_killed_runs_temporary_file_is_cleared_by_the_next_run_and_a_live_ones_kept(self):
        import collect_submission
        with tempfile.TemporaryDirectory() as folder:
            target = os.path.join(folder, "submission.zip")
            stale, live, other = (os.path.join(folder, name) for name in
                                  ("submission.zip.4242.tmp", "submission.zip.4243.tmp", "notes.4244.tmp"))
            for path in (stale, live, other):
                with open(path, "wb") as f:
                    f.write(b"PK half a zip")
            old = os.path.getmtime(stale) - collect_submission.LEFTOVER_AGE_S - 60  # killed by SIGKILL long ago
            for path in (stale, other):
                os.utime(path, (old, old))
            result = subprocess.run([sys.executable, os.path.join(PART2, "collect_submission.py"), target],
                                    capture_output=True, text=True, timeout=120)
            self.assertEqual((result.returncode, result.stderr), (0, ""))
            self.assertEqual(sorted(os.listdir(folder)),
                             ["notes.4244.tmp", "submission.zip", "submission.zip.4243.tmp"])

    def test_a_file_name_that_is_not_utf8_is_one_line_and_writes_no_zip(self):
        with tempfile.TemporaryDirectory() as folder:
            copy = shutil.copytree(PART2, os.path.join(folder, "part2"), ignore=shutil.ignore_patterns(
                "cifar-10-batches-py", "runs", "results", "__pycache__", ".*", "*.zip"))
            try:  # Linux takes any bytes; macOS and Windows refuse such a name, and the case cannot arise there
                open(os.path.join(os.fsencode(copy), b"configs", b"caf\xe9.yaml"), "w").close()
            except (OSError, UnicodeError):  # macOS: EILSEQ; Windows decodes a bytes path as UTF-8 (PEP 529)
                self.skipTest("this file system takes only UTF-8 names")
            target = os.path.join(folder, "part2.zip")
            result = subprocess.run([sys.executable, os.path.join(copy, "collect_submission.py"), target],
                                    capture_output=True, text=True, timeout=120)
            self.assertEqual((result.returncode, result.stdout), (2, ""))
            self.assertEqual(result.stderr, "collect_submission.py: error: configs/caf\\udce9.yaml: a file name that "
                                            "is not UTF-8 cannot go in a zip; rename the file\n".replace("/", os.sep))
            self.assertEqual(sorted(os.listdir(folder)), ["part2"])  # no zip, no temporary file

    def test_data_brings_its_code_alone(self):
        import collect_submission
        with tempfile.TemporaryDirectory() as root:
            for name in ("data/__init__.py", "data/get_data.sh", "data/get_data.bat", "data/cifar-10-python.tar.gz",
                         "data/cifar-10-batches-py (copy)/data_batch_1", "data/cifar-10-batches-py/test_batch",
                         "configs/mine.yaml", "checkpoints/twolayernet.pth"):
                os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
                open(os.path.join(root, name), "w").close()
            found = [path.replace(os.sep, "/") for path in collect_submission.submission_files(root)]
        self.assertEqual(found, [*collect_submission.FILES, "configs/mine.yaml", "checkpoints/twolayernet.pth",
                                 "data/__init__.py", "data/get_data.bat", "data/get_data.sh"])

    def test_a_relative_zip_is_taken_from_the_callers_folder(self):
        with tempfile.TemporaryDirectory() as folder:
            commands = [[sys.executable, os.path.join(PART2, "collect_submission.py")]]
            if shutil.which("sh"):  # not on Windows without Git Bash
                commands.insert(0, ["sh", os.path.join(PART2, "collect_submission.sh")])
            for command in commands:
                with self.subTest(command=command[0]):
                    result = subprocess.run([*command, "mine.zip"], cwd=folder, capture_output=True, text=True,
                                            env=WITH_THIS_PYTHON)
                    self.assertEqual(result.returncode, 0, result.stderr)
                    self.assertIn("wrote mine.zip", result.stdout)
                    self.assertFalse(os.path.exists(os.path.join(PART2, "mine.zip")))
                    with zipfile.ZipFile(os.path.join(folder, "mine.zip")) as archive:
                        self.assertIn("main.py", archive.namelist())
                    os.remove(os.path.join(folder, "mine.zip"))

    def test_another_zip_an_unreadable_file_and_missing_weights(self):
        with tempfile.TemporaryDirectory() as folder:
            copy = os.path.join(folder, "part2")  # a copy of this part, to damage
            shutil.copytree(PART2, copy, ignore=shutil.ignore_patterns("cifar-10-batches-py", "runs", "results",
                                                                       "__pycache__", ".*"))
            script = os.path.join(copy, "collect_submission.py")
            other = os.path.join(folder, "part1.zip")
            with zipfile.ZipFile(other, "w") as archive:
                archive.writestr("train.py", "part 1's hand-in")
            before = read_bytes(other)
            result = subprocess.run([sys.executable, script, other], capture_output=True, text=True)
            self.assertEqual((result.returncode, result.stdout), (2, ""))
            self.assertIn("is another zip", result.stderr)
            self.assertEqual(read_bytes(other), before)

            target = os.path.join(folder, "part2.zip")
            os.symlink(os.path.join(folder, "absent.yaml"), os.path.join(copy, "configs", "broken.yaml"))
            result = subprocess.run([sys.executable, script, target], capture_output=True, text=True)
            self.assertEqual(result.returncode, 2)
            self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)
            self.assertIn("cannot read configs", result.stderr)  # the file at fault, not the zip
            self.assertFalse(os.path.exists(target))
            self.assertEqual(sorted(os.listdir(folder)), ["part1.zip", "part2"])  # no temporary file left

            os.remove(os.path.join(copy, "configs", "broken.yaml"))
            for name in os.listdir(os.path.join(copy, "checkpoints")):
                os.remove(os.path.join(copy, "checkpoints", name))
            open(os.path.join(copy, "checkpoints", "twolayernet.pth.lock"), "w").close()  # a run's lock
            result = subprocess.run([sys.executable, script, target], capture_output=True, text=True)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn("no trained weights", result.stdout)
            with zipfile.ZipFile(target) as archive:
                self.assertFalse([name for name in archive.namelist() if name.endswith(".lock")])

    def test_a_damaged_checkpoint_goes_in_with_a_note(self):
        # the hand-in is the user's to make, but graders would fail to load a checkpoint cut short
        with tempfile.TemporaryDirectory() as folder:
            copy = os.path.join(folder, "part2")
            shutil.copytree(PART2, copy, ignore=shutil.ignore_patterns("cifar-10-batches-py", "runs", "results",
                                                                       "__pycache__", ".*", "*.zip"))
            script, target = os.path.join(copy, "collect_submission.py"), os.path.join(folder, "part2.zip")
            checkpoint = os.path.join(copy, "checkpoints", "twolayernet.pth")
            whole = read_bytes(checkpoint)
            flipped = bytearray(whole)
            flipped[len(whole) // 2] ^= 0xFF  # one byte inside the weights: the member's CRC no longer matches
            note = (f"note: {os.path.join('checkpoints', 'twolayernet.pth')} is not a whole torch.save file (cut "
                    f"short or corrupted): graders could not load it; train again, or copy it anew, then collect "
                    f"again\n")
            legacy = io.BytesIO()  # torch.save's format before zip files: whole, and loadable
            torch.save(read_weights(checkpoint), legacy, _use_new_zipfile_serialization=False)
            for name, content in (("cut short", whole[:len(whole) // 2]), ("a byte changed", bytes(flipped)),
                                  ("not a zip", b"\x80\x02}q\x00."), ("whole", whole),
                                  ("whole", legacy.getvalue())):
                with self.subTest(content=name):
                    with open(checkpoint, "wb") as f:
                        f.write(content)
                    result = subprocess.run([sys.executable, script, target], capture_output=True, text=True)
                    self.assertEqual((result.returncode, result.stderr), (0, ""))
                    self.assertEqual(result.stdout.endswith(note), name != "whole", (name, result.stdout))
                    with zipfile.ZipFile(target) as archive:
                        self.assertEqual(archive.read("checkpoints/twolayernet.pth"), content)

    def test_a_bad_target_is_one_line_and_no_other_file_is_replaced(self):
        with tempfile.TemporaryDirectory() as folder:
            notes, zipped = os.path.join(folder, "notes.zip"), os.path.join(folder, "old.zip")
            with open(notes, "w") as f:
                f.write("my notes, named .zip by mistake\n")
            with zipfile.ZipFile(zipped, "w") as archive:
                archive.writestr("stale.txt", "an earlier submission")
                archive.writestr("main.py", "")
                archive.writestr("configs/old.yaml", "")
            os.mkdir(os.path.join(folder, "folder.zip"))
            for target, message in ((os.path.join(folder, "README.md"), "give a name ending in .zip"),
                                    (notes, "exists and is not a zip"),
                                    (os.path.join(folder, "folder.zip"), "is a folder"),
                                    (os.path.join(folder, "absent", "x.zip"), "does not exist"),
                                    ("", "an empty path")):  # an unset shell variable: not the default zip
                result = subprocess.run([sys.executable, os.path.join(PART2, "collect_submission.py"), target],
                                        capture_output=True, text=True)
                self.assertEqual((result.returncode, result.stdout), (2, ""), target)
                self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)
                self.assertIn(message, result.stderr)
            with open(notes) as f:
                self.assertEqual(f.read(), "my notes, named .zip by mistake\n")
            self.assertEqual(sorted(os.listdir(folder)), ["folder.zip", "notes.zip", "old.zip"])
            subprocess.run([sys.executable, os.path.join(PART2, "collect_submission.py"), zipped], check=True,
                           capture_output=True)  # an earlier zip is replaced
            with zipfile.ZipFile(zipped) as archive:
                self.assertIn("main.py", archive.namelist())
                self.assertNotIn("stale.txt", archive.namelist())


WRAPPERS = ("collect_submission.sh", "data/get_data.sh")


@unittest.skipUnless(os.name == "posix" and all(map(shutil.which, ("sh", "dirname", "basename"))),
                     "the .sh wrappers, run by a POSIX sh")
class ShellWrappers(unittest.TestCase):
    """The .sh wrappers run the first of python3 and python that runs: on Windows python3 may be the Store's
    placeholder, which is on PATH but only says how to install Python."""
    PLACEHOLDER = "#!/bin/sh\necho 'Python was not found; run without arguments to install it' >&2\nexit 49\n"

    def wrappers_with(self, pythons):
        """(status, stdout, stderr) of each wrapper's --help, on a PATH of dirname, basename and `pythons`."""
        results = {}
        with tempfile.TemporaryDirectory() as tools:
            for tool in ("dirname", "basename"):
                os.symlink(shutil.which(tool), os.path.join(tools, tool))
            for name, text in pythons.items():
                with open(os.path.join(tools, name), "w") as f:
                    f.write(text)
                os.chmod(os.path.join(tools, name), 0o755)
            for wrapper in WRAPPERS:
                result = subprocess.run([shutil.which("sh"), os.path.join(PART2, wrapper), "--help"],
                                        env=dict(PATH=tools, PYTHONDONTWRITEBYTECODE="1"), capture_output=True,
                                        text=True, timeout=120)
                results[wrapper] = result.returncode, result.stdout, result.stderr
        return results

    def test_python_serves_where_python3_is_a_placeholder(self):
        python = f"#!/bin/sh\nexec '{sys.executable}' \"$@\"\n"
        for wrapper, (status, out, err) in self.wrappers_with(dict(python3=self.PLACEHOLDER, python=python)).items():
            with self.subTest(wrapper=wrapper):
                self.assertEqual((status, err), (0, ""))
                self.assertTrue(out.startswith("usage: "), out)

    def test_no_python_that_runs_is_one_line_and_status_2(self):
        for pythons in ({}, dict(python3=self.PLACEHOLDER)):
            for wrapper, (status, out, err) in self.wrappers_with(pythons).items():
                with self.subTest(wrapper=wrapper, pythons=sorted(pythons)):
                    self.assertEqual((status, out), (2, ""))
                    self.assertEqual(len(err.splitlines()), 1, err)
                    self.assertIn("neither python3 nor python here runs as Python 3.8 or newer", err)

    def test_a_python_older_than_3_8_is_passed_over(self):
        # as an old system's python (Python 2) or python3 (3.6: zipfile lacks strict_timestamps) answers
        old = (f"#!/bin/sh\nexec '{sys.executable}' -c \"import sys; sys.version_info = (3, 7, 17); "
               "exec(sys.argv[1])\" \"$2\"\n")
        python = f"#!/bin/sh\nexec '{sys.executable}' \"$@\"\n"
        for pythons, expected in ((dict(python3=old, python=python), 0), (dict(python3=old, python=old), 2)):
            for wrapper, (status, out, err) in self.wrappers_with(pythons).items():
                with self.subTest(wrapper=wrapper, python=pythons["python"] is python):
                    self.assertEqual(status, expected, err)
                    self.assertTrue(out.startswith("usage: ") if expected == 0 else out == "", out)


if __name__ == "__main__":
    unittest.main()
