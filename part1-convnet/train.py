"""Overfit a small CNN on the first 50 CIFAR-10 training images and plot its training accuracy to train.png.

Run it from its own folder (part1-convnet), after fetching the data with `sh data/get_data.sh`."""
import argparse
import contextlib
import errno
import importlib.util
import os
import re
import shlex
import signal
import sys
import tempfile
import time

if __name__ == "__main__":
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C while numpy loads ends the process, not in a traceback
    missing = [package for package in ("numpy", "matplotlib") if importlib.util.find_spec(package) is None]
    if missing:  # one line, not a traceback from the imports below
        print(f"train.py: error: {', '.join(missing)} missing from {sys.executable}; use the kit's .venv "
              f"Python (README, Quick start), or install them: pip install -r requirements.txt, from the kit's top "
              f"folder", file=sys.stderr)
        sys.exit(2)
    os.environ["MPLBACKEND"] = "Agg"  # a notebook's inline backend, inherited by `!python train.py`, stops the import

import matplotlib
matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt

from data import get_CIFAR10_data
try:
    from data import DataError
except ImportError:  # the course kit's own data/ package, which graders pair with the submitted train.py
    DataError = OSError  # what its loader raises for a missing batch file
from modules import ConvNet
from optimizer import SGD
from trainer import ClassifierTrainer

DATA_DIR = os.path.join("data", "cifar-10-batches-py")  # the OS's separator, as the messages that name it print it
FIGURE = "train.png"
HERE = os.path.dirname(os.path.abspath(__file__))
LEFTOVER_AGE_S = 3600  # a figure takes a second: a temporary file an hour old is no live run's


class FigureNotWritten(Exception):
    """The figure could not be saved after training (the message says why and what to do)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, a scheduler ending the job), which stops training as Ctrl-C does: no partial figure left."""


def stop_on_sigterm(number, frame):
    raise Terminated


def how_stopped(stop):
    """The KeyboardInterrupt `stop` in words, and the exit status a shell gives its signal (128 + its number)."""
    return ("stopped by SIGTERM", 143) if isinstance(stop, Terminated) else ("interrupted", 130)


class OneLineErrorParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (train.py takes no arguments; see --help)\n")


def wrong_folder():
    """True when train.py is clearly being run from another folder: the data is beside train.py but not here,
    or train.py's folder lies below this one (the repository root, say)."""
    here, cwd = os.path.realpath(HERE), os.path.realpath(os.getcwd())
    if cwd == here:
        return False
    if not os.path.isdir(DATA_DIR) and os.path.isdir(os.path.join(here, DATA_DIR)):
        return True
    try:
        return os.path.commonpath([here, cwd]) == cwd
    except ValueError:  # different drives on Windows
        return False


def shell_quoted(path):
    """path as a shell takes it in a command to paste: quoted where it holds a space or a character the shell reads
    (POSIX sh's rules; on Windows double quotes, which cmd takes, and PowerShell too unless the path holds a $)."""
    if os.name == "nt":
        return f'"{path}"' if re.search(r"[\s&()^;,'`$@{}]", path) else path
    return shlex.quote(path)


def figure_problem(path):
    """Why the figure could not be written to path (None when it can), found before training rather than after:
    a folder in its place, or a folder that takes no new file (tried with an empty one)."""
    if os.path.isdir(path):
        return f"{path} is a folder; move it out of the way and run again"
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, probe = tempfile.mkstemp(prefix=".train-", suffix=".png", dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as error:
        fix = "make that folder writable" if isinstance(error, PermissionError) else disk_fix(error)
        return f"cannot write {path} in {folder} ({error.strerror or error}); {fix} and run again"
    return None


def disk_fix(error):
    """What to do about a failed write whose cause is the disk, not permissions: full, read-only, or failing."""
    if error.errno == errno.ENOSPC:
        return "free some disk space"
    if error.errno == errno.EROFS:  # a read-only mount: permissions cannot help
        return "copy the kit to a disk you can write to"
    return "check the disk (it failed to write)"


def remove_killed_partials(folder, prefix, suffix, age=LEFTOVER_AGE_S):
    """Delete the temporary files that runs killed outright (SIGKILL, a power cut) left in folder: mkstemp's names
    (prefix, 8 random characters, suffix) older than age seconds, since a live run's file is as new as its last
    write. Best effort: it never fails."""
    ours = re.compile(re.escape(prefix) + r"[a-z0-9_]{8}" + re.escape(suffix))
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        path = os.path.join(folder, name)
        with contextlib.suppress(OSError):  # gone meanwhile, or not ours to remove
            if ours.fullmatch(name) and time.time() - os.path.getmtime(path) > age:
                os.remove(path)


def save_figure(path):
    """Write the current figure to path through a temporary file beside it, so an interrupted run leaves the
    previous figure (or none), never half a PNG."""
    folder = os.path.dirname(os.path.abspath(path))
    remove_killed_partials(folder, ".train-", ".png")
    fd, partial = tempfile.mkstemp(prefix=".train-", suffix=".png", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            plt.savefig(f, format="png", dpi=120, bbox_inches="tight")
        set_usual_permissions(partial)
        replace_when_free(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):  # gone already when a stop lands just after the rename
            os.remove(partial)
        raise


def set_usual_permissions(path):
    """Give a mkstemp file (private, 0o600) the permissions open() would have given it: 0o666 less the umask."""
    umask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def replace_when_free(partial, path, waits=(0.1, 0.2, 0.5, 1, 2)):
    """os.replace; Windows refuses while another program holds the old figure open (an image viewer) or the new
    one (a virus scanner), so there try again for a few seconds, then say what to do."""
    for wait in (*waits, None):
        try:
            return os.replace(partial, path)
        except PermissionError as error:
            if os.name != "nt" or (wait is None and not os.path.isfile(path)):
                raise
            if wait is None:
                raise PermissionError(error.errno, f"{error.strerror}; is it open in another program? close it "
                                                   f"there", path) from None
            time.sleep(wait)


def model_and_optimizer():
    """The kit's small CNN for this script and its optimiser (bench.py times the same)."""
    model = ConvNet([
        dict(type="Conv2D", in_channels=3, out_channels=32, kernel_size=5, stride=1, padding=2),
        dict(type="ReLU"),
        dict(type="MaxPooling", kernel_size=2, stride=2),
        dict(type="Linear", in_dim=8192, out_dim=10),
    ], dict(type="SoftmaxCrossEntropy"))
    return model, SGD(model, learning_rate=0.0001, reg=0.001, momentum=0.9)


def train():
    """Train the small CNN and plot its accuracy curve to FIGURE (FigureNotWritten when that fails)."""
    X_train, y_train, *_ = get_CIFAR10_data(DATA_DIR)
    model, optimizer = model_and_optimizer()
    _, train_acc_history = ClassifierTrainer().train(
        X_train[:50], y_train[:50], model, learning_rate_decay=0.95, sample_batches=True, num_epochs=10,
        batch_size=10, acc_frequency=None, verbose=True, optimizer=optimizer)

    plt.plot(range(len(train_acc_history)), train_acc_history, marker="o")
    plt.xlabel("epoch")
    plt.ylabel("training accuracy")
    plt.title("Small CNN overfitting 50 CIFAR-10 images")
    plt.grid(alpha=0.3)
    try:
        save_figure(FIGURE)
    except OSError as error:  # the check before training passed: something changed meanwhile
        fix = "" if isinstance(error, PermissionError) else f"; {disk_fix(error)}"  # one held open says its fix
        why = figure_problem(FIGURE) or f"cannot write {FIGURE} ({error.strerror or error}){fix}"
        raise FigureNotWritten(f"{why}; this run's curve (final training accuracy {train_acc_history[-1]:.3f}) "
                               f"was not saved, and any earlier {FIGURE} is kept") from None


def main(argv=None):
    OneLineErrorParser(prog="train.py", description=__doc__).parse_args(argv)
    problem = (f"run train.py from its own folder: cd {shell_quoted(HERE)}" if wrong_folder() else
               figure_problem(FIGURE))
    if problem:
        print(f"train.py: error: {problem}", file=sys.stderr)
        return 2
    try:
        train()
    except (DataError, FigureNotWritten) as error:
        if isinstance(error, OSError) and reader_went_away(error):  # DataError is OSError beside the kit's data/
            raise  # stdout's reader went away: see quiet_when_the_pipe_closes
        print(f"train.py: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        how, status = how_stopped(stop)
        print(f"train.py: {how}; {FIGURE} was not written", file=sys.stderr)
        return status
    return 0


def reader_went_away(error):
    """A write to a pipe whose reader has gone: EPIPE, or on Windows EINVAL naming no file."""
    return isinstance(error, BrokenPipeError) or (
        sys.platform == "win32" and error.errno == errno.EINVAL and error.filename is None)


class ConsoleError(OSError):
    """A write to standard output that failed for a reason other than a reader gone: a full disk under `> log`, a
    terminal that has died."""


class CheckedStdout:
    """sys.stdout, whose failed writes raise ConsoleError (a closed pipe stays BrokenPipeError), so that they are
    told from the failure of a file."""

    def __init__(self, stream):
        self._stream = stream

    def __getattr__(self, name):  # the rest of the stream (isatty, fileno, encoding, buffer) as it is
        if name == "_stream":  # a copy made without __init__ has none: no endless lookup
            raise AttributeError(name)
        return getattr(self._stream, name)

    def write(self, text):
        return self._checked(self._stream.write, text)

    def writelines(self, lines):
        return self._checked(self._stream.writelines, lines)

    def flush(self):
        return self._checked(self._stream.flush)

    @staticmethod
    def _checked(method, *arguments):
        try:
            return method(*arguments)
        except OSError as error:
            if reader_went_away(error):
                raise
            raise ConsoleError(error.errno, error.strerror, "standard output") from None


def usable_console():
    """Let print work on any console: a stream that is missing (closed with >&-, or under Windows' pythonw) writes
    to the null device, a character the console's encoding lacks is written as an escape, not an error, and a
    failed write to stdout says so (ConsoleError)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))
        elif hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    if not isinstance(sys.stdout, CheckedStdout):
        sys.stdout = CheckedStdout(sys.stdout)


def quiet_when_the_pipe_closes(main):
    """main() on a usable console, where `python train.py | head -1` ends without a traceback when head exits
    (status 1, as cat). Ctrl-C or SIGTERM that main() leaves alone ends with one line and the status a shell
    reports (130, 143)."""
    usable_console()
    if signal.getsignal(signal.SIGINT) is signal.SIG_DFL:  # set while the libraries loaded
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        status = main()
        sys.stdout.flush()  # a closed pipe shows here rather than at exit
    except KeyboardInterrupt as stop:
        how, status = how_stopped(stop)
        print(f"\n{how}", file=sys.stderr)
    except OSError as error:
        if not (reader_went_away(error) or isinstance(error, ConsoleError)):
            raise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python flushes stdout again at exit
        if isinstance(error, ConsoleError):  # a reader gone needs no word: it asked for no more
            print(f"{os.path.basename(sys.argv[0])}: error: standard output: {error.strerror}; send it to a disk with "
                  f"free space or to a terminal, then run again", file=sys.stderr)
        status = 1
    return status


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    sys.exit(quiet_when_the_pipe_closes(main))
