"""main.py as a user runs it: bad input ends with one line on stderr, exit status 2 and no traceback.

Each case is a separate process (a fresh Python and torch), all started together to share the wait.
"""
import argparse
import copy
import errno
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import zipfile
from unittest import mock

import torch

import cli
from tests.helpers import (PART2, ScratchRun, python_handles_ctrl_c, run_on_a_full_disk, start_main,
                           write_cifar_folder)

GOOD = os.path.join(PART2, "configs", "config_twolayer.yaml")
setUpModule = python_handles_ctrl_c  # Python's Ctrl-C handler, even in a suite started in the background


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
            "mistyped flag": ["--config", GOOD, "--epocs", "2"],
            "missing data": ["--config", GOOD, "--data-dir", cls.folder.name],
            "bad labels": ["--config", GOOD, "--data-dir", cls.bad_labels_folder()],
            "empty evaluate": ["--config", GOOD, "--evaluate", ""],  # an unset $CHECKPOINT: it trained instead
            "empty config": ["--config", ""],
            "seed past 64 bits": ["--config", GOOD, "--seed", str(2**64)],
            "no image in the rarest class": ["--config", GOOD, "--set", "imbalance=imbalance", "--imb-factor", "1e-4",
                                             "--reweight", "--loss-type", "Focal"],
            "huge crop padding": ["--config", GOOD, "--crop-padding", "100000"],
            "a class absent, weighted": ["--config", GOOD, "--data-dir", cls.missing_class_folder(),
                                         "--loss-type", "Focal", "--reweight"],
            "a newline in a config's path": ["--config", os.path.join(cls.folder.name, "a\nb.yaml")],
            "a newline in the data folder": ["--config", GOOD, "--set", "data_dir=x\ny\x1bz"],
        }
        processes = {name: start_main(arguments, cwd=cls.folder.name) for name, arguments in cases.items()}
        root = os.path.dirname(PART2)  # the repository: the kit's paths are relative to part2-pytorch/, not here
        processes["from the root"] = start_main(["--config", os.path.relpath(GOOD, root)], cwd=root)
        cls.part1 = os.path.join(root, "part1-convnet")  # a folder with a data/ of its own
        if os.path.isdir(cls.part1):
            processes["from part 1"] = start_main(["--config", GOOD], cwd=cls.part1)
        processes["help"] = start_main(["--help"], cwd=cls.folder.name)
        processes["a newline in a checkpoint's path"] = start_main(["--evaluate", "a\nb.pth"], cwd=PART2)
        # torch.compile where inductor finds no C++ compiler (a laptop without build tools)
        cls.compile_folder = os.path.join(cls.folder.name, "compile")
        data, _, _ = write_cifar_folder(cls.compile_folder)
        processes["no compiler"] = start_main(["--config", GOOD, "--data-dir", data, "--compile", "default"],
                                              cwd=cls.compile_folder, environment={"CXX": "/no/such/compiler"})
        cls.results = {}
        for name, process in processes.items():
            out, err = process.communicate(timeout=120)
            cls.results[name] = (process.returncode, out, err)

    @classmethod
    def bad_labels_folder(cls):
        folder, _, _ = write_cifar_folder(os.path.join(cls.folder.name, "bad"))
        import pickle
        path = os.path.join(folder, "data_batch_2")
        with open(path, "rb") as f:
            batch = pickle.load(f)
        batch[b"labels"][0] = 10
        with open(path, "wb") as f:
            pickle.dump(batch, f, protocol=2)
        return folder

    @classmethod
    def missing_class_folder(cls):
        """A training set without trucks (class 9): every 9 relabelled 8."""
        import pickle
        folder, _, _ = write_cifar_folder(os.path.join(cls.folder.name, "no_trucks"))
        for part in range(1, 6):
            path = os.path.join(folder, f"data_batch_{part}")
            with open(path, "rb") as f:
                batch = pickle.load(f)
            batch[b"labels"] = [8 if label == 9 else label for label in batch[b"labels"]]
            with open(path, "wb") as f:
                pickle.dump(batch, f, protocol=2)
        return folder

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

    def test_control_characters_in_paths_are_escaped_so_the_error_stays_one_line(self):
        self.assert_one_line_error("a newline in a config's path", "cannot read config", "a\\nb.yaml")
        self.assert_one_line_error("a newline in the data folder", "x\\ny\\x1bz")
        self.assert_one_line_error("a newline in a checkpoint's path", "a\\nb.pth")

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

    def test_a_mistyped_flag_gets_a_suggestion(self):
        self.assert_one_line_error("mistyped flag", "--epocs", "did you mean --epochs?")

    def test_bad_labels_stop_the_run_before_anything_is_written(self):
        self.assert_one_line_error("bad labels", "data_batch_2", "label")
        self.assertFalse(os.path.exists(os.path.join(self.folder.name, "runs")))
        self.assertFalse(os.path.exists(os.path.join(self.folder.name, "checkpoints")))

    def test_a_class_missing_from_the_training_set_of_a_weighted_loss_stops_it_before_anything_is_written(self):
        self.assert_one_line_error("a class absent, weighted", "no image of truck", "class-balanced weights",
                                   "--reweight false")
        self.assertFalse(os.path.exists(os.path.join(self.folder.name, "runs")))

    def test_a_compiler_missing_for_torch_compile_is_one_line_and_saves_nothing(self):
        self.assert_one_line_error("no compiler", "torch.compile", "--compile none")
        run = os.path.join(self.compile_folder, "runs", "config_twolayer")
        self.assertFalse(os.path.exists(os.path.join(run, "last.pth")))
        checkpoints = os.path.join(self.compile_folder, "checkpoints")
        self.assertEqual([name for name in os.listdir(checkpoints) if name.endswith(".pth")], [])

    def test_run_from_the_repository_root_says_where_to_run(self):
        self.assert_one_line_error("from the root", "run main.py from its own folder", "cd part2-pytorch")
        self.assertFalse(os.path.exists(os.path.join(os.path.dirname(PART2), "runs")))

    def test_empty_paths_unusable_seeds_and_sizes_are_refused_before_anything_runs(self):
        self.assert_one_line_error("empty evaluate", "--evaluate", "an empty path")
        self.assert_one_line_error("empty config", "--config", "an empty path")
        self.assert_one_line_error("seed past 64 bits", "--seed", "from 0 to")
        self.assert_one_line_error("no image in the rarest class", "imb_factor = 0.0001", "expected at least 0.0002",
                                   "imb_factor, imbalance, loss_type, reweight from the command line")
        self.assert_one_line_error("huge crop padding", "crop_padding = 100000", "<= 32")
        self.assertFalse(os.path.exists(os.path.join(self.folder.name, "runs")))

    def test_run_from_another_part_of_the_kit_says_where_to_run(self):
        if "from part 1" not in self.results:
            self.skipTest("part1-convnet is not beside part2-pytorch here")
        self.assert_one_line_error("from part 1", "run main.py from its own folder", "cd ../part2-pytorch")
        for output in ("runs", "checkpoints"):
            self.assertFalse(os.path.exists(os.path.join(self.part1, output)))

    def test_help_shows_the_defaults_and_runs_nothing(self):
        status, out, err = self.results["help"]
        self.assertEqual((status, err), (0, ""))
        self.assertIn("--imb-factor", out)
        self.assertIn("default 0.01", out)
        self.assertIn("default: 0", out)  # --seed
        flat = " ".join(out.split())
        for empty in ("(default: None)", "(default: False)", "(default: [])", "(default None)"):
            self.assertNotIn(empty, flat)
        self.assertIn("the run folder runs/NAME (default: the config's file name) --device", flat)  # said once
        self.assertFalse(os.path.exists(os.path.join(self.folder.name, "runs")))


class WrongFolder(unittest.TestCase):
    def test_from_another_drive_on_windows_the_hint_gives_the_whole_path(self):
        # os.path.relpath raises ValueError across drives: the hint must still be one line, not a traceback
        self.addCleanup(os.chdir, os.getcwd())
        os.chdir(os.path.dirname(PART2))  # the repository's root, where the kit's relative paths do not lead
        across_drives = ValueError("path is on mount 'C:', start on mount 'D:'")
        with mock.patch.object(os.path, "relpath", side_effect=across_drives):
            hint = cli.wrong_folder(os.path.join(PART2, "main.py"))
        self.assertEqual(hint, f"run main.py from its own folder: cd {cli.shell_quoted(PART2)} (the kit's paths "
                               f"configs/, data/, checkpoints/, runs/ and results/ are relative to it)")

    def test_the_cd_pastes_whole_where_the_path_has_a_space(self):
        self.addCleanup(os.chdir, os.getcwd())
        with tempfile.TemporaryDirectory() as tmp:
            kit = os.path.join(tmp, "My Projects", "kit's copy", "part2-pytorch")
            os.makedirs(os.path.join(kit, "configs"))
            os.chdir(tmp)  # above the kit: its relative paths do not lead there
            hint = cli.wrong_folder(os.path.join(kit, "main.py"), ["configs"])
            command = hint.split(": ", 1)[1].split(" (the kit's paths")[0]
            self.assertEqual(command, """cd 'My Projects/kit'"'"'s copy/part2-pytorch'""".replace("/", os.sep)
                             if os.name == "posix" else f'cd "{os.path.relpath(kit)}"')
            if os.name == "posix":
                landed = subprocess.run(["sh", "-c", f"{command} && pwd -P"], capture_output=True, text=True)
                self.assertEqual(landed.stdout.strip(), os.path.realpath(kit), landed.stderr)

    @unittest.skipUnless(os.name == "posix", "cd in sh")
    def test_the_cd_pastes_whole_where_the_path_starts_with_a_dash(self):
        self.addCleanup(os.chdir, os.getcwd())
        with tempfile.TemporaryDirectory() as tmp:
            kit = os.path.join(tmp, "-kit", "part2-pytorch")
            os.makedirs(os.path.join(kit, "configs"))
            os.chdir(tmp)
            command = cli.wrong_folder(os.path.join(kit, "main.py"), ["configs"]).split(": ", 1)[1].split(" (")[0]
            self.assertEqual(command, "cd ./-kit/part2-pytorch")  # `cd -kit/...` is an option to cd
            landed = subprocess.run(["sh", "-c", f"{command} && pwd -P"], capture_output=True, text=True)
            self.assertEqual(landed.stdout.strip(), os.path.realpath(kit), landed.stderr)

    def test_on_windows_a_path_is_double_quoted_where_a_shell_would_split_it(self):
        with mock.patch.object(os, "name", "nt"):
            self.assertEqual(cli.shell_quoted(r"C:\Users\ann\kit\part2-pytorch"), r"C:\Users\ann\kit\part2-pytorch")
            self.assertEqual(cli.shell_quoted(r"C:\My Projects\kit"), r'"C:\My Projects\kit"')
            self.assertEqual(cli.shell_quoted(r"D:\R&D\kit"), r'"D:\R&D\kit"')


class HelpOnly(unittest.TestCase):
    SCRIPTS = ("main.py", "experiments.py", "bench.py", "collect_submission.py", "data/fetch_cifar10.py",
               "scripts/mymodel_record.py", "scripts/gpu_speed_check.py")

    def test_every_script_answers_help_and_runs_nothing(self):
        def snapshot():
            return {os.path.join(folder, name): os.stat(os.path.join(folder, name)).st_mtime_ns
                    for folder, _, names in os.walk(PART2) for name in names if "__pycache__" not in folder}
        before = snapshot()
        environment = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        processes = {script: subprocess.Popen([sys.executable, os.path.join(PART2, script), "--help"], cwd=PART2,
                                              env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                              text=True) for script in self.SCRIPTS}
        for script, process in processes.items():
            out, err = process.communicate(timeout=120)
            with self.subTest(script=script):
                self.assertEqual((process.returncode, err), (0, ""))
                self.assertTrue(out.startswith("usage: "), out)
        self.assertEqual(snapshot(), before)


class ScriptLineEndings(unittest.TestCase):
    """sh stops at a carriage return ("fetch_cifar10.py\\r: not found"); cmd.exe wants CRLF. Git for Windows checks
    text out with CRLF unless .gitattributes says otherwise."""

    def test_shell_scripts_end_lines_with_lf_and_batch_files_with_crlf(self):
        root = os.path.dirname(PART2)
        scripts = []
        for folder, subfolders, names in os.walk(root):
            subfolders[:] = [name for name in subfolders if not name.startswith(".")]  # .git, .venv
            scripts += [os.path.join(folder, name) for name in names if name.endswith((".sh", ".bat"))]
        self.assertGreaterEqual(len(scripts), 8, scripts)  # get_data and collect_submission of each part, .ci/run aside
        for path in scripts:
            with open(path, "rb") as f:
                text = f.read()
            with self.subTest(script=os.path.relpath(path, root)):
                if path.endswith(".sh"):
                    self.assertNotIn(b"\r", text)
                else:
                    self.assertEqual(text.count(b"\r\n"), text.count(b"\n"))
        with open(os.path.join(root, ".gitattributes")) as f:
            rules = f.read().split("\n")
        self.assertIn("*.sh text eol=lf", rules)
        self.assertIn("*.bat -text", rules)


class NumbersOnTheCommandLine(unittest.TestCase):
    def test_a_number_is_checked_as_it_is_read(self):
        count, seconds = cli.number_at_least(1), cli.number_at_least(0, float, above=True)
        self.assertEqual((count("3"), seconds("0.5"), seconds("inf")), (3, 0.5, float("inf")))
        for parse, text in ((count, "0"), (count, "1.5"), (count, "x"), (seconds, "0"), (seconds, "-1"),
                            (seconds, "nan")):
            with self.subTest(text=text), self.assertRaises(argparse.ArgumentTypeError):
                parse(text)

    def test_the_ends_of_a_range_are_allowed_and_a_blank_path_is_not(self):
        seed, at_most = cli.integer_between(0, 2**63 - 1), cli.number_at_least(0, float, above=True, at_most=3600)
        self.assertEqual((seed("0"), seed(str(2**63 - 1)), at_most("3600")), (0, 2**63 - 1, 3600.0))
        for parse, text in ((seed, "-1"), (seed, str(2**63)), (at_most, "3600.5")):
            with self.subTest(text=text), self.assertRaises(argparse.ArgumentTypeError):
                parse(text)
        for blank in ("", "  ", "\t"):
            with self.subTest(path=blank), self.assertRaises(argparse.ArgumentTypeError):
                cli.path_argument("the config")(blank)

    def test_every_script_refuses_a_bad_number_in_one_line_before_it_starts(self):
        snapshot = sorted(os.listdir(PART2))
        environment = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        for command in (["bench.py", "--seconds", "0"], ["bench.py", "--images", "0"],
                        ["experiments.py", "--grid", "cpu", "--workers", "-1"],
                        ["scripts/mymodel_record.py", "--seeds", "0"],
                        ["scripts/mymodel_record.py", "--seconds", "nan"],
                        ["scripts/gpu_speed_check.py", "out", "--record-seeds", "0"]):
            with self.subTest(command=command):
                done = subprocess.run([sys.executable, *command], cwd=PART2, env=environment, capture_output=True,
                                      text=True, timeout=120)
                self.assertEqual((done.returncode, done.stdout), (2, ""))
                self.assertEqual(len(done.stderr.splitlines()), 1, done.stderr)
                self.assertIn(f"argument {command[-2]}: {command[-1]!r} is not", done.stderr)
        self.assertEqual(sorted(os.listdir(PART2)), snapshot)


class TwoRunsAtOnce(unittest.TestCase):
    @unittest.skipIf(os.name == "nt", "stops the first run with SIGINT, which Windows cannot send to a child")
    def test_the_second_run_of_a_folder_is_refused_while_the_first_trains(self):
        scratch = ScratchRun()
        self.addCleanup(scratch.close)
        arguments = ["--config", scratch.config, "--device", "cpu"]
        first = start_main([*arguments, "--epochs", "100000"], cwd=scratch.folder)  # until it is stopped
        metrics = scratch.path("runs", "tiny", "metrics.csv")
        deadline = time.monotonic() + 120
        while not os.path.exists(metrics) and time.monotonic() < deadline:  # the first run holds the folder
            time.sleep(0.05)
        second = start_main([*arguments, "--epochs", "1"], cwd=scratch.folder)
        _, err = second.communicate(timeout=120)
        first.send_signal(signal.SIGINT)
        _, first_err = first.communicate(timeout=120)
        self.assertEqual(second.returncode, 2, err)
        self.assertIn("runs/tiny is in use by another run", err)
        self.assertEqual(len(err.strip().splitlines()), 1)
        self.assertEqual(first.returncode, 130, first_err)
        with open(metrics) as f:
            epochs = [int(line.split(",")[0]) for line in f.read().splitlines()[1:]]
        self.assertEqual(epochs, list(range(1, len(epochs) + 1)))  # the first run's rows alone, each once
        last = torch.load(scratch.path("runs", "tiny", "last.pth"), weights_only=True)
        self.assertEqual(last["epoch"], len(epochs))
        self.assertFalse(os.path.exists(scratch.path("runs", "tiny.1")))


class ClosedPipe(unittest.TestCase):
    def test_a_reader_that_stops_early_gets_no_traceback(self):
        scratch = ScratchRun()
        self.addCleanup(scratch.close)
        process = start_main(["--config", scratch.config, "--device", "cpu", "--epochs", "3"], cwd=scratch.folder)
        process.stdout.readline()
        process.stdout.close()  # as `| head -1` does: the next line main.py prints meets a closed pipe
        err = process.stderr.read()
        process.stderr.close()
        self.assertEqual(process.wait(timeout=120), 1)
        self.assertEqual(err, "")

    def test_a_run_without_a_console_or_on_one_without_unicode_trains_all_its_epochs(self):
        scratch = ScratchRun()
        self.addCleanup(scratch.close)
        config = shutil.copy(scratch.config, scratch.path("données.yaml"))
        # no stdout or stderr at all (pythonw on Windows, or `>&-`): the run trains in silence
        launcher = ("import runpy, sys; sys.stdout = sys.stderr = None; sys.argv = sys.argv[1:]; "
                    f"sys.path.insert(0, {PART2!r}); runpy.run_path(sys.argv[0], run_name='__main__')")
        arguments = [os.path.join(PART2, "main.py"), "--config", config, "--device", "cpu", "--name", "silent"]
        result = subprocess.run([sys.executable, "-c", launcher, *arguments], cwd=scratch.folder, timeout=300,
                                env=dict(os.environ, OMP_NUM_THREADS="1"))
        self.assertEqual(result.returncode, 0)
        with open(scratch.path("runs", "silent", "metrics.csv")) as f:
            self.assertEqual([line.split(",")[0] for line in f.read().splitlines()], ["epoch", "1", "2"])
        # a console whose encoding lacks the characters of the run's name: written as escapes
        process = start_main(["--config", config, "--device", "cpu"], cwd=scratch.folder,
                             environment={"PYTHONIOENCODING": "ascii"})
        out, err = process.communicate(timeout=300)
        self.assertEqual((process.returncode, err), (0, ""))
        self.assertIn("runs/donn\\xe9es", out.replace(os.sep, "/"))
        self.assertTrue(os.path.isfile(scratch.path("runs", "données", "metrics.csv")))

    def test_bench_with_its_reader_gone_ends_quietly(self):
        process = subprocess.Popen([sys.executable, os.path.join(PART2, "bench.py"), "--models", "TwoLayerNet",
                                    "--seconds", "1", "--device", "cpu"], cwd=PART2, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
        process.stdout.close()  # as `| head -0` does: the first line meets a closed pipe
        err = process.stderr.read()
        process.stderr.close()
        self.assertEqual((process.wait(timeout=120), err), (1, ""))

    def test_output_on_a_full_disk_is_one_line_naming_standard_output(self):
        scratch = ScratchRun()
        self.addCleanup(scratch.close)
        full = (f"standard output: {os.strerror(errno.ENOSPC)}; send it to a disk with free space or to a terminal, "
                f"then run again\n")
        result = run_on_a_full_disk("main.py", ["--config", scratch.config, "--device", "cpu"], cwd=scratch.folder)
        self.assertEqual((result.returncode, result.stderr), (1, "main.py: error: " + full))
        # it stopped at its first line, before any epoch: the run's settings and an empty log, no weights
        self.assertEqual(sorted(os.listdir(scratch.path("runs", "tiny"))), ["config.yaml", "metrics.csv"])
        result = run_on_a_full_disk("collect_submission.py", [scratch.path("hand-in.zip")])
        self.assertEqual((result.returncode, result.stderr),
                         (1, f"collect_submission.py: error: {scratch.path('hand-in.zip')} is written, but standard "
                             f"output is not ({os.strerror(errno.ENOSPC)})\n"))
        with zipfile.ZipFile(scratch.path("hand-in.zip")) as archive:  # written whole before "wrote ..." failed
            self.assertIsNone(archive.testzip())
        result = run_on_a_full_disk("experiments.py", ["--grid", "cpu", "--list"])
        self.assertEqual((result.returncode, result.stderr), (1, "experiments.py: error: " + full))

    def test_every_write_of_the_checked_stdout_names_standard_output(self):
        class Full(io.StringIO):
            def write(self, text):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            def writelines(self, lines):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        checked = cli._CheckedStdout(Full())
        for write in (lambda: checked.write("x"), lambda: checked.writelines(["x"]), lambda: print("x", file=checked)):
            with self.assertRaises(cli.ConsoleError) as caught:
                write()
            self.assertEqual(caught.exception.filename, "standard output")
        self.assertIsInstance(copy.copy(checked), cli._CheckedStdout)  # no endless __getattr__ on a bare copy
        self.assertFalse(checked.isatty())  # the rest is the stream's own

    def test_on_windows_a_closed_pipe_is_einval_and_is_told_from_a_bad_file_name(self):
        # Windows reports a write to a pipe whose reader is gone as EINVAL naming no file (CPython issue 79935);
        # a bad file name there is EINVAL too, with its name, and stays an error
        def failing(error):
            def main():
                raise error
            return main
        cases = [("linux", BrokenPipeError(errno.EPIPE, "Broken pipe"), True),
                 ("win32", OSError(errno.EINVAL, "Invalid argument"), True),
                 ("linux", OSError(errno.EINVAL, "Invalid argument"), False),
                 ("win32", OSError(errno.EINVAL, "Invalid argument", "runs/a:b"), False),
                 ("win32", OSError(errno.ENOSPC, "No space left on device"), False)]
        for platform, error, gone in cases:
            with self.subTest(platform=platform, error=repr(error)), mock.patch.object(sys, "platform", platform), \
                    mock.patch.object(os, "dup2") as dup2:
                self.assertEqual(cli.reader_went_away(error), gone)
                if gone:  # stdout goes to the null device, so Python's flush at exit finds nothing to complain of
                    self.assertEqual(cli.quiet_when_the_pipe_closes(failing(error)), 1)
                    self.assertEqual(dup2.call_args.args[1], sys.stdout.fileno())
                else:
                    with self.assertRaises(OSError):
                        cli.quiet_when_the_pipe_closes(failing(error))
                    dup2.assert_not_called()



# Imported first by a script, in place of the library it loads first: Ctrl-C arrives while it loads. A process
# that outlives it exits with 7.
CTRL_C_WHILE_LOADING = "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\nraise SystemExit(7)\n"


def libraries_pressing_ctrl_c(folder):
    """numpy, torch and matplotlib stand-ins under folder, for PYTHONPATH; each presses Ctrl-C as it loads."""
    for name in ("numpy", "torch", "matplotlib"):
        os.makedirs(os.path.join(folder, name))
        with open(os.path.join(folder, name, "__init__.py"), "w") as f:
            f.write(CTRL_C_WHILE_LOADING)
    return dict(os.environ, PYTHONPATH=folder)


class CtrlC(unittest.TestCase):
    def restore_sigint_afterwards(self):
        self.addCleanup(signal.signal, signal.SIGINT, signal.getsignal(signal.SIGINT))

    @unittest.skipIf(sys.platform == "win32", "os.kill(pid, SIGINT) ends a Windows process outright")
    def test_ctrl_c_while_torch_loads_ends_the_script_without_a_traceback(self):
        with tempfile.TemporaryDirectory() as folder:
            environment = libraries_pressing_ctrl_c(folder)
            for script in ("main.py", "experiments.py", "bench.py"):
                with self.subTest(script=script):
                    result = subprocess.run([sys.executable, script], cwd=PART2, env=environment,
                                            capture_output=True, text=True, timeout=60)
                    self.assertEqual((result.returncode, result.stderr), (-signal.SIGINT, ""))
            # where Ctrl-C is ignored (a job started with & by a script) it stays ignored
            result = subprocess.run([sys.executable, "main.py"], cwd=PART2, env=environment, capture_output=True,
                                    text=True, timeout=60,
                                    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
            self.assertEqual((result.returncode, result.stderr), (7, ""))

    def test_ctrl_c_that_a_script_leaves_alone_is_one_line_and_status_130(self):
        self.restore_sigint_afterwards()
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # as quiet_while_loading leaves it

        def main():
            self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)  # Python's again
            raise KeyboardInterrupt

        with mock.patch("sys.stderr", new_callable=io.StringIO) as err:
            self.assertEqual(cli.quiet_when_the_pipe_closes(main), 130)
        self.assertEqual(err.getvalue(), "\ninterrupted\n")

    def test_quiet_while_loading_leaves_an_ignored_or_own_handler_alone(self):
        self.restore_sigint_afterwards()
        for handler in (signal.SIG_IGN, print):
            signal.signal(signal.SIGINT, handler)
            cli.quiet_while_loading()
            self.assertIs(signal.getsignal(signal.SIGINT), handler)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        cli.quiet_while_loading()
        self.assertIs(signal.getsignal(signal.SIGINT), signal.SIG_DFL)


SCRIPTS = ("main.py", "experiments.py", "bench.py", os.path.join("scripts", "mymodel_record.py"))
# the path a child Python gives as sys.executable: started as ../.venv/bin/python, this one keeps the ".."
PYTHON = os.path.normpath(sys.executable)
FIX = ("use the kit's .venv Python (README, Quick start), or install them: pip install -r requirements.txt, from the "
       "kit's top folder")  # what a missing package's line says to do


def run_script(script, *arguments, hide=(), **environment):
    """(status, stdout, stderr) of `python script arguments` run from part 2, the modules in `hide` not installed
    as far as it can tell (sys.modules[name] = None: importlib.util.find_spec says None, import fails)."""
    launcher = (f"import runpy, sys; sys.modules.update(dict.fromkeys({list(hide)!r})); "
                "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", launcher, script, *arguments], cwd=PART2, capture_output=True,
                            text=True, timeout=120, env=dict(os.environ, **environment))
    return result.returncode, result.stdout, result.stderr



class LoadingLibraries(unittest.TestCase):
    def test_a_missing_package_is_one_line_naming_it_and_the_fix(self):
        for script in SCRIPTS:
            with self.subTest(script=script):
                status, out, err = run_script(script, "--help", hide=("yaml", "tqdm"))
                self.assertEqual((status, out), (2, ""), err)
                self.assertEqual(err, f"{os.path.basename(script)}: error: PyYAML, tqdm missing from {PYTHON}; "
                                      f"{FIX}\n")

    def test_help_without_docstrings(self):  # python -OO strips them; --help still answers
        for script in SCRIPTS + ("collect_submission.py", os.path.join("data", "fetch_cifar10.py")):
            with self.subTest(script=script):
                result = subprocess.run([sys.executable, "-OO", script, "--help"], cwd=PART2, capture_output=True,
                                        text=True, timeout=120)
                self.assertEqual((result.returncode, result.stderr), (0, ""))
                self.assertTrue(result.stdout.startswith("usage: "), result.stdout)

    def test_a_backend_matplotlib_cannot_load_does_not_stop_a_script(self):
        # a notebook's `!python main.py` inherits MPLBACKEND=module://matplotlib_inline...; the scripts draw to files
        for script in SCRIPTS:
            with self.subTest(script=script):
                status, out, err = run_script(script, "--help", MPLBACKEND="module://matplotlib_inline.backend_inline")
                self.assertEqual(status, 0, err)
                self.assertTrue(out.startswith(f"usage: {os.path.basename(script)}"), out)


if __name__ == "__main__":
    unittest.main()
