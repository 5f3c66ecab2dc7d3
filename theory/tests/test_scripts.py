"""The theory scripts answer --help without computing or writing anything; the figure is written whole or not."""
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
from pathlib import Path
from unittest import mock

import relu_pieces
from command_line import run

THEORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class HelpOnly(unittest.TestCase):
    def test_help_runs_nothing(self):
        figure = os.path.join(THEORY, "relu_pieces.png")
        before = os.stat(figure).st_mtime_ns
        for script in ("conv_as_matrix.py", "relu_pieces.py"):
            with self.subTest(script=script):
                result = subprocess.run([sys.executable, os.path.join(THEORY, script), "--help"], cwd=THEORY,
                                        capture_output=True, text=True, timeout=120)
                self.assertEqual((result.returncode, result.stderr), (0, ""))
                self.assertTrue(result.stdout.startswith("usage: "), result.stdout)
                self.assertNotIn("W=", result.stdout)  # no answer was computed
        self.assertEqual(os.stat(figure).st_mtime_ns, before)

    def test_an_argument_is_one_line(self):
        for script in ("conv_as_matrix.py", "relu_pieces.py"):
            with self.subTest(script=script):
                result = subprocess.run([sys.executable, os.path.join(THEORY, script), "--plot"], cwd=THEORY,
                                        capture_output=True, text=True, timeout=120)
                self.assertEqual((result.returncode, result.stdout), (2, ""))
                self.assertEqual(result.stderr, f"{script}: error: unrecognized arguments: --plot (this script "
                                                f"takes no arguments; see --help)\n")


# the path a child Python gives as sys.executable: started as ../.venv/bin/python, this one keeps the ".."
PYTHON = os.path.normpath(sys.executable)
FIX = ("use the kit's .venv Python (README, Quick start), or install them: pip install -r requirements.txt, from the "
       "kit's top folder")  # what a missing package's line says to do


def run_hiding(script, hide=(), cwd=THEORY, **environment):
    """`python script` with the modules in `hide` not installed as far as it can tell (sys.modules[name] = None)."""
    launcher = (f"import runpy, sys; sys.path.insert(0, {cwd!r}); sys.modules.update(dict.fromkeys({list(hide)!r})); "
                "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")
    return subprocess.run([sys.executable, "-c", launcher, os.path.join(cwd, script)], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, **environment))


def refusing_replace(refusals):
    """os.replace as Windows runs it while another program holds a file: refused `refusals` times, then done;
    returns (the targets it was asked for, the function)."""
    calls, real_replace = [], os.replace

    def replace(source, target):
        calls.append(target)
        if len(calls) <= refusals:
            raise PermissionError(errno.EACCES, "Access is denied", str(target))
        return real_replace(source, target)
    return calls, replace


class LoadingLibraries(unittest.TestCase):
    def test_a_missing_package_is_one_line_naming_it_and_the_fix(self):
        for script, hidden in (("conv_as_matrix.py", "numpy"), ("conv_as_matrix.py", "torch"),
                               ("relu_pieces.py", "matplotlib")):
            with self.subTest(script=script, hidden=hidden):
                result = run_hiding(script, hide=[hidden])
                self.assertEqual((result.returncode, result.stdout), (2, ""))
                self.assertEqual(result.stderr, f"{script}: error: {hidden} missing from {PYTHON}; {FIX}\n")

    def test_help_without_docstrings(self):  # python -OO strips them; --help still answers
        for script in ("conv_as_matrix.py", "relu_pieces.py"):
            with self.subTest(script=script):
                result = subprocess.run([sys.executable, "-OO", script, "--help"], cwd=THEORY, capture_output=True,
                                        text=True, timeout=120)
                self.assertEqual((result.returncode, result.stderr), (0, ""))
                self.assertTrue(result.stdout.startswith("usage: "), result.stdout)

    def test_a_backend_matplotlib_cannot_load_does_not_stop_the_figure(self):
        # a notebook's `!python relu_pieces.py` inherits MPLBACKEND=module://matplotlib_inline...
        with tempfile.TemporaryDirectory() as folder:
            for name in ("relu_pieces.py", "command_line.py"):
                shutil.copy(os.path.join(THEORY, name), folder)
            result = run_hiding("relu_pieces.py", cwd=folder, MPLBACKEND="module://matplotlib_inline.backend_inline")
            self.assertEqual(result.returncode, 0, result.stderr)
            with open(os.path.join(folder, "relu_pieces.png"), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


class ClosedPipe(unittest.TestCase):
    def test_a_reader_that_is_gone_gets_no_traceback(self):
        for script in ("conv_as_matrix.py", "relu_pieces.py"):
            for unbuffered in ("", "1"):  # PYTHONUNBUFFERED=1 (or python -u) meets the pipe at the first print
                with self.subTest(script=script, unbuffered=unbuffered):
                    with tempfile.TemporaryDirectory() as tmp:
                        copy = shutil.copytree(THEORY, os.path.join(tmp, "theory"))  # its figure, not ours
                        process = subprocess.Popen(
                            [sys.executable, os.path.join(copy, script)], cwd=copy, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED=unbuffered))
                        process.stdout.close()  # as `| head -0` does: every line meets a closed pipe
                        err = process.stderr.read()
                        process.stderr.close()
                        self.assertEqual((process.wait(timeout=120), err), (1, ""))

    def test_output_on_a_full_disk_is_one_line_naming_standard_output(self):
        # every write to stdout fails, as under `> log` on a full disk (/dev/full on Linux), whatever the system
        launcher = ("import errno, io, os, runpy, sys\n"
                    "class FullDisk(io.TextIOWrapper):\n"
                    "    def write(self, text):\n"
                    "        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))\n"
                    "sys.stdout = FullDisk(open(os.devnull, 'wb'), encoding='utf-8')\n"
                    "sys.argv = sys.argv[1:]; sys.path.insert(0, os.path.dirname(sys.argv[0]))\n"
                    "runpy.run_path(sys.argv[0], run_name='__main__')\n")
        for script in ("conv_as_matrix.py", "relu_pieces.py"):
            with self.subTest(script=script), tempfile.TemporaryDirectory() as tmp:
                copy = shutil.copytree(THEORY, os.path.join(tmp, "theory"))  # its figure, not ours
                os.remove(os.path.join(copy, "relu_pieces.png"))
                result = subprocess.run([sys.executable, "-c", launcher, os.path.join(copy, script)], cwd=copy,
                                        capture_output=True, text=True, timeout=120)
                self.assertEqual((result.returncode, result.stderr),
                                 (1, f"{script}: error: standard output: {os.strerror(errno.ENOSPC)}; send it to a "
                                     f"disk with free space or to a terminal, then run again\n"))
                self.assertFalse(os.path.exists(os.path.join(copy, "relu_pieces.png")))  # stopped at the first line

    def test_without_a_console_they_run_in_silence(self):
        # pythonw on Windows, or `>&-`: no stdout or stderr at all
        launcher = ("import runpy, sys; sys.stdout = sys.stderr = None; sys.argv = sys.argv[1:]; "
                    "sys.path.insert(0, '.'); runpy.run_path(sys.argv[0], run_name='__main__')")
        for script in ("conv_as_matrix.py", "relu_pieces.py"):
            with self.subTest(script=script), tempfile.TemporaryDirectory() as tmp:
                copy = shutil.copytree(THEORY, os.path.join(tmp, "theory"))  # its figure, not ours
                os.remove(os.path.join(copy, "relu_pieces.png"))
                result = subprocess.run([sys.executable, "-c", launcher, script], cwd=copy, timeout=120)
                self.assertEqual(result.returncode, 0)
                self.assertEqual(os.path.exists(os.path.join(copy, "relu_pieces.png")), script == "relu_pieces.py")

    def test_on_windows_a_closed_pipe_is_einval_naming_no_file(self):
        import command_line  # CPython issue 79935: Windows reports EINVAL where POSIX reports EPIPE
        for platform, error, gone in [("linux", BrokenPipeError(errno.EPIPE, "Broken pipe"), True),
                                      ("win32", OSError(errno.EINVAL, "Invalid argument"), True),
                                      ("linux", OSError(errno.EINVAL, "Invalid argument"), False),
                                      ("win32", OSError(errno.EINVAL, "Invalid argument", "a?.png"), False)]:
            with self.subTest(platform=platform, error=repr(error)), mock.patch.object(sys, "platform", platform):
                self.assertEqual(command_line.reader_went_away(error), gone)


class Figure(unittest.TestCase):
    def run_main(self, figure):
        err = io.StringIO()
        with mock.patch.object(relu_pieces, "FIGURE", figure), mock.patch("sys.argv", ["relu_pieces.py"]), \
                contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            return relu_pieces.main(), err.getvalue()

    def test_the_figure_is_written_whole_or_the_error_is_one_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            figure, folder = Path(tmp, "relu_pieces.png"), Path(tmp, "folder.png")
            self.assertEqual(self.run_main(figure), (0, ""))
            self.assertTrue(figure.read_bytes().startswith(b"\x89PNG"))
            folder.mkdir()
            status, err = self.run_main(folder)  # a folder where the figure goes
            self.assertEqual(status, 2)
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertEqual(err, f"relu_pieces.py: error: {folder} is a folder; move it out of the way\n")
            self.assertTrue(folder.is_dir())
            self.assertEqual(sorted(os.listdir(tmp)), ["folder.png", "relu_pieces.png"])  # no temp file left

    def test_on_windows_a_figure_open_in_a_viewer_is_waited_for_then_named(self):
        with tempfile.TemporaryDirectory() as tmp:
            figure, new = Path(tmp, "relu_pieces.png"), Path(tmp, "relu_pieces.png.1.tmp")
            for refusals in (3, 100):  # held a moment, or until the user closes it
                figure.write_bytes(b"the earlier figure")
                new.write_bytes(b"\x89PNG the new figure")
                calls, replace = refusing_replace(refusals)
                with self.subTest(refusals=refusals), mock.patch("os.name", "nt"), \
                        mock.patch("os.replace", replace), mock.patch("time.sleep"):
                    if refusals == 3:
                        relu_pieces.replace_when_free(new, figure)
                        self.assertEqual((len(calls), figure.read_bytes()), (4, b"\x89PNG the new figure"))
                    else:
                        with self.assertRaises(relu_pieces.OpenElsewhere):
                            relu_pieces.replace_when_free(new, figure)
                        self.assertEqual((len(calls), figure.read_bytes()), (6, b"the earlier figure"))
            held = relu_pieces.OpenElsewhere(errno.EACCES, "Access is denied", str(figure))
            with mock.patch.object(relu_pieces, "plot_pieces", side_effect=held):
                self.assertEqual(self.run_main(figure), (2, f"relu_pieces.py: error: {figure} is open in another "
                                                            f"program; close it there\n"))

    def test_on_windows_a_first_figure_held_by_a_virus_scanner_is_waited_for_too(self):
        with tempfile.TemporaryDirectory() as tmp:
            figure, new = Path(tmp, "relu_pieces.png"), Path(tmp, "relu_pieces.png.1.tmp")
            for refusals in (3, 100):  # a scan done in a moment; a new file held on: the plain permission error
                new.write_bytes(b"\x89PNG the new figure")
                calls, replace = refusing_replace(refusals)
                with self.subTest(refusals=refusals), mock.patch("os.name", "nt"), \
                        mock.patch("os.replace", replace), mock.patch("time.sleep"):
                    if refusals == 3:
                        relu_pieces.replace_when_free(new, figure)
                        self.assertEqual((len(calls), figure.read_bytes()), (4, b"\x89PNG the new figure"))
                        figure.unlink()
                    else:
                        with self.assertRaises(PermissionError) as raised:
                            relu_pieces.replace_when_free(new, figure)
                        self.assertNotIsInstance(raised.exception, relu_pieces.OpenElsewhere)
                        self.assertEqual((len(calls), figure.exists()), (6, False))

    def test_a_read_only_disk_is_named_with_its_fix(self):
        with tempfile.TemporaryDirectory() as tmp:
            figure = Path(tmp, "relu_pieces.png")
            read_only = OSError(errno.EROFS, "Read-only file system")
            for error, fix in ((read_only, "copy the kit to a disk you can write to"),
                               (PermissionError(errno.EACCES, "Permission denied"), f"fix the permissions of {tmp}"),
                               (OSError(errno.ENOSPC, "No space left on device"), "free some disk space"),
                               (OSError(errno.EIO, "Input/output error"), "check the disk (it failed to write)")):
                with self.subTest(error=error.strerror), \
                        mock.patch.object(relu_pieces, "plot_pieces", side_effect=error):
                    self.assertEqual(self.run_main(figure), (2, f"relu_pieces.py: error: cannot write {figure}: "
                                                                f"{error.strerror}; {fix}\n"))
                    self.assertEqual(os.listdir(tmp), [])  # no figure, no temporary file

    def test_a_killed_runs_temporary_figure_is_cleared_and_a_live_ones_kept(self):
        with tempfile.TemporaryDirectory() as tmp:
            killed, live, other = (Path(tmp, name) for name in
                                   ("relu_pieces.png.4242.tmp", "relu_pieces.png.4243.tmp", "notes.png.4244.tmp"))
            for path in (killed, live, other):
                path.write_bytes(b"\x89PNG half a figure")
            old = killed.stat().st_mtime - relu_pieces.LEFTOVER_AGE_S - 60  # a SIGKILL long ago
            for path in (killed, other):
                os.utime(path, (old, old))
            self.assertEqual(self.run_main(Path(tmp, "relu_pieces.png")), (0, ""))
            self.assertEqual(sorted(os.listdir(tmp)), ["notes.png.4244.tmp", "relu_pieces.png",
                                                       "relu_pieces.png.4243.tmp"])



class CtrlC(unittest.TestCase):
    @unittest.skipIf(sys.platform == "win32", "os.kill(pid, SIGINT) ends a Windows process outright")
    def test_ctrl_c_while_numpy_loads_ends_the_script_without_a_traceback(self):
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # a suite started with & by a script: give it back
            self.addCleanup(signal.signal, signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.default_int_handler)
        with tempfile.TemporaryDirectory() as folder:
            os.makedirs(os.path.join(folder, "numpy"))  # a stand-in that presses Ctrl-C while it loads
            with open(os.path.join(folder, "numpy", "__init__.py"), "w") as f:
                f.write("import os, signal\nos.kill(os.getpid(), signal.SIGINT)\nraise SystemExit(7)\n")
            for script in ("conv_as_matrix.py", "relu_pieces.py"):
                with self.subTest(script=script):
                    result = subprocess.run([sys.executable, script], cwd=THEORY, capture_output=True, text=True,
                                            env=dict(os.environ, PYTHONPATH=folder), timeout=60)
                    self.assertEqual((result.returncode, result.stderr), (-signal.SIGINT, ""))

    def test_ctrl_c_later_is_one_line_and_status_130(self):
        self.addCleanup(signal.signal, signal.SIGINT, signal.getsignal(signal.SIGINT))
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # as quiet_while_loading leaves it

        def main():
            self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)  # Python's again
            raise KeyboardInterrupt

        with mock.patch("sys.stderr", new_callable=io.StringIO) as err, self.assertRaises(SystemExit) as end:
            run(main)
        self.assertEqual((end.exception.code, err.getvalue()), (130, "\ninterrupted\n"))

    @unittest.skipIf(sys.platform == "win32", "os.kill(pid, SIGTERM) ends a Windows process outright")
    def test_kill_while_the_figure_is_written_leaves_the_earlier_figure_and_no_temporary_file(self):
        with tempfile.TemporaryDirectory() as folder:
            for name in ("relu_pieces.py", "command_line.py"):
                shutil.copy(os.path.join(THEORY, name), folder)
            figure = os.path.join(folder, "relu_pieces.png")
            with open(figure, "wb") as f:
                f.write(b"the earlier figure")
            launcher = ("import os, runpy, signal, sys, matplotlib.figure as mf; save = mf.Figure.savefig; "
                        "mf.Figure.savefig = lambda *a, **k: (save(*a, **k), os.kill(os.getpid(), signal.SIGTERM)); "
                        "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")
            result = subprocess.run([sys.executable, "-c", launcher, os.path.join(folder, "relu_pieces.py")],
                                    cwd=folder, capture_output=True, text=True, timeout=120)
            self.assertEqual((result.returncode, result.stderr), (143, "\nstopped by SIGTERM\n"))
            self.assertEqual(sorted(os.listdir(folder)), ["command_line.py", "relu_pieces.png", "relu_pieces.py"])
            with open(figure, "rb") as f:
                self.assertEqual(f.read(), b"the earlier figure")


if __name__ == "__main__":
    unittest.main()
