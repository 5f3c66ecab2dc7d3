"""What the tests of part 1's scripts share: a scratch copy of the part, and the one-line error every script
gives for bad input (exit status 2, one line on stderr naming the script, never a traceback), and Python's
Ctrl-C handler for the tests that press it, and a stdout on a full disk."""
import os
import shutil
import signal
import subprocess
import sys

PART1 = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python_handles_ctrl_c():
    """setUpModule of the Ctrl-C tests. A suite started in the background by a script (`make test &` without job
    control) inherits SIGINT ignored, as would every child it starts: these tests need Python's own handler, here
    and (reset on exec) in the children. Each module asks for it itself, whatever tests/__init__.py holds."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def copy_of_part1(dest):
    """Part 1's code (no data) copied to dest, so a test controls what lies beside train.py; returns train.py."""
    skip = shutil.ignore_patterns("__pycache__", "cifar-10-batches-py", "tests", "*.png", "*.zip")
    shutil.copytree(PART1, dest, ignore=skip)
    return os.path.join(dest, "train.py")


def assert_one_line_error(test, result, script, *fragments):
    """result (a CompletedProcess) is script's one-line error, holding every fragment."""
    test.assertEqual(result.returncode, 2, result.stderr)
    test.assertNotIn("Traceback", result.stderr)
    test.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
    test.assertTrue(result.stderr.startswith(f"{script}: error: "), result.stderr)
    for fragment in fragments:
        test.assertIn(fragment, result.stderr)


# Runs the script sys.argv[1] with the rest as its arguments, on a stdout whose every write fails as on a full disk
# (`> log` there; /dev/full on Linux), whatever the system.
FULL_STDOUT = """
import errno, io, os, runpy, sys
class FullDisk(io.TextIOWrapper):
    def write(self, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
sys.stdout = FullDisk(open(os.devnull, "wb"), encoding="utf-8")
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run_on_a_full_disk(script, cwd):
    """Run the script (a path) from cwd with stdout on a full disk; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-c", FULL_STDOUT, script], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1"), timeout=300)
