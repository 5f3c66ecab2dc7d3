"""What the command lines (main.py, experiments.py, bench.py, the scripts) share: one-line errors with a
did-you-mean, defaults in --help, numbers and run names checked as they are read, the check that a script runs
from its own folder, a quiet end when the reader of the output leaves, and one line when output cannot be written."""
import argparse
import difflib
import errno
import importlib.util
import math
import os
import re
import shlex
import signal
import sys

import files

PACKAGES = {"numpy": "numpy", "torch": "torch", "yaml": "PyYAML", "matplotlib": "matplotlib", "tqdm": "tqdm"}
RUN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=-]*(/[A-Za-z0-9_][A-Za-z0-9_.=-]*)*")
WINDOWS_REFUSES = re.compile(r'[<>:"\\|?*\x00-\x1f]')  # in a file name
WINDOWS_DEVICE = re.compile(r"(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?", re.IGNORECASE)  # not folders there


RUN_NAME_PART_MAX = 240  # a file name's 255 bytes, less what the run's lock (.NAME.lock) and NAME.12 add


def run_name_argument(name):
    """--name: runs/NAME, a folder name that every system takes."""
    if not RUN_NAME.fullmatch(name):
        raise argparse.ArgumentTypeError(f"{name!r} is not a run name; use letters, digits, '_', '-', '.', '=' "
                                         "(and '/' between folder names)")
    if any(len(part) > RUN_NAME_PART_MAX for part in name.split("/")):  # file systems take 255 bytes a name
        raise argparse.ArgumentTypeError(f"{name[:40]!r}... is not a run name: at most {RUN_NAME_PART_MAX} "
                                         f"characters between '/'")
    for part in name.split("/"):  # names that would fail or alias another folder on Windows, for every user
        if WINDOWS_DEVICE.fullmatch(part) or part.endswith("."):
            raise argparse.ArgumentTypeError(f"{name!r} is not a run name on every system: Windows keeps CON, PRN, "
                                             f"AUX, NUL, COM0-9 and LPT0-9 for devices and drops a final '.'; "
                                             f"choose another")
    return name


class CommandLineParser(argparse.ArgumentParser):
    """argparse with one-line errors (exit status 2) that suggest the closest flag for a mistyped one, and the
    closest choice for a mistyped choice (--grid cpx, --models ResNet32)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}{self._did_you_mean(message)}\n")

    def _did_you_mean(self, message):
        unknown = re.search(r"unrecognized arguments: (-\S+)", message)
        choice = re.search(r"argument (\S+): invalid choice: '([^']*)'", message)
        if unknown:
            word, candidates = unknown.group(1).split("=")[0], [
                flag for action in self._actions for flag in action.option_strings]
        elif choice:
            word, candidates = choice.group(2), [
                str(option) for action in self._actions if "/".join(action.option_strings) == choice.group(1)
                for option in action.choices or ()]
        else:
            return ""
        close = difflib.get_close_matches(word, candidates, n=1)
        return f"; did you mean {close[0]}?" if close else ""


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default where it says something: not None, a switch's False or an empty list; not twice."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default == [] \
                or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def number_at_least(minimum, kind=int, above=False, at_most=math.inf):
    """An argparse type: text read as `kind` (int or float; NaN refused) that is >= minimum (> with above) and
    <= at_most."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value != value or value < minimum or (above and value == minimum) or value > at_most:
            what = "an integer" if kind is int else "a number"
            limit = f" and at most {at_most}" if at_most < math.inf else ""
            raise argparse.ArgumentTypeError(f"{text!r} is not {what} {'above' if above else 'at least'} "
                                             f"{minimum}{limit}")
        return value
    return parse


def integer_between(low, high):
    """An argparse type: an integer from low to high inclusive."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer from {low} to {high}")
        return value
    return parse


def path_argument(what):
    """An argparse type: a path that is not empty (an unset shell variable, say), described as `what`."""
    def parse(text):
        if not text.strip():
            raise argparse.ArgumentTypeError(f"an empty path; give {what}")
        return text
    return parse


KIT_PARTS = ("part1-convnet", "part2-pytorch", "theory")  # the repository's folders, side by side


def _within(folder, other):
    try:
        return os.path.commonpath([folder, other]) == other
    except ValueError:  # Windows: another drive
        return False


def wrong_folder(script, paths=(), home=None):
    """A one-line hint when `script` is run from a folder its relative paths are not meant for: one that holds
    its home (the script's folder, unless given) further down (the repository's root), another part of the kit
    (part 1's folder has a data/ of its own), or one lacking a relative path of `paths` that exists in its home.
    None when all is well."""
    home = home or os.path.dirname(os.path.abspath(script))
    here, current = os.path.normcase(os.path.abspath(home)), os.path.normcase(os.getcwd())
    above = current != here and _within(here, current)
    other_parts = [os.path.join(os.path.dirname(here), part) for part in KIT_PARTS]
    in_other_part = any(os.path.isdir(part) and part != here and _within(current, part) for part in other_parts)
    beside = any(path and not os.path.isabs(path) and not os.path.exists(path)
                 and os.path.exists(os.path.join(here, path)) for path in paths)
    if not (above or in_other_part or beside):
        return None
    own = here == os.path.normcase(os.path.dirname(os.path.abspath(script)))
    where = "its own folder" if own else os.path.basename(here)
    try:
        way = os.path.relpath(here)
    except ValueError:  # Windows: here and the current folder lie on different drives
        way = os.path.abspath(home)
    return (f"run {os.path.basename(script)} from {where}: cd {shell_quoted(way)} (the kit's paths "
            f"configs/, data/, checkpoints/, runs/ and results/ are relative to it)")


def shell_quoted(path):
    """path as a shell takes it in a command to paste: quoted where it holds a space or a character the shell reads
    (POSIX sh's rules; on Windows double quotes, which cmd takes, and PowerShell too unless the path holds a $)."""
    if path.startswith("-"):  # a relative path that cd (or PowerShell's Set-Location) would read as an option
        path = os.path.join(os.curdir, path)
    if os.name == "nt":
        return f'"{path}"' if re.search(r"[\s&()^;,'`$@{}]", path) else path
    return shlex.quote(path)


def error_line(prog, message):
    """`prog: error: message` as one line: control characters (a newline in a path, say) written as escapes."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(message))
    return f"{prog}: error: {text}"


def reader_went_away(error):
    """Whether an OSError is a write to a pipe whose reader has gone: EPIPE, or on Windows EINVAL, which names no
    file (a bad file name there is EINVAL too, with its name)."""
    return isinstance(error, BrokenPipeError) or (
        sys.platform == "win32" and error.errno == errno.EINVAL and error.filename is None)


class ConsoleError(OSError):
    """A write to standard output that failed for a reason other than a reader gone: a full disk under `> log`, a
    terminal that has died. It names standard output, so that it is told from the failure of a file."""


class _CheckedStdout:
    """sys.stdout, whose failed writes raise ConsoleError (a closed pipe stays BrokenPipeError)."""

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


def console_failed(error):
    """Whether an OSError is standard output's (for quiet_when_the_pipe_closes to report), not a file's."""
    return reader_went_away(error) or isinstance(error, ConsoleError)


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
    if not isinstance(sys.stdout, _CheckedStdout):
        sys.stdout = _CheckedStdout(sys.stdout)


def quiet_while_loading():
    """Called by a script before it imports torch: Ctrl-C while torch loads (a second or two) ends the
    process as it would a C program, not with a traceback from inside torch; quiet_when_the_pipe_closes then hands
    Ctrl-C back to Python. Where Ctrl-C is ignored (a job started with & by a script), it stays ignored."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.SIG_DFL)


def before_loading(script):
    """Called by a script before it imports its libraries (torch, numpy, ...): Ctrl-C stays quiet meanwhile; a
    missing package is one line naming it and the fix, not a traceback from deep in an import; and matplotlib
    draws to files whatever MPLBACKEND says (a notebook's inline backend, inherited by `!python ...` where it is
    not installed, stops matplotlib's import)."""
    quiet_while_loading()
    missing = [package for module, package in PACKAGES.items() if importlib.util.find_spec(module) is None]
    if missing:
        print(f"{script}: error: {', '.join(missing)} missing from {sys.executable}; use the kit's .venv "
              f"Python (README, Quick start), or install them: pip install -r requirements.txt, from the kit's top "
              f"folder", file=sys.stderr)
        sys.exit(2)
    os.environ["MPLBACKEND"] = "Agg"  # the scripts write figures to files; Agg needs no display


def quiet_when_the_pipe_closes(main):
    """main() on a usable console; `script ... | head -1`: the reader went away, so end without a traceback (the
    usual exit status 1). Ctrl-C (or SIGTERM under files.sigterm_as_interrupt) that main() leaves alone ends with
    one line and the status a shell reports for it."""
    usable_console()
    if signal.getsignal(signal.SIGINT) is signal.SIG_DFL:  # set by quiet_while_loading
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        status = main()
        sys.stdout.flush()  # a closed pipe shows here rather than at exit
        return status
    except KeyboardInterrupt as stop:
        how, status = files.how_stopped(stop)
        print(f"\n{how}", file=sys.stderr)
        return status
    except OSError as error:
        if not console_failed(error):
            raise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python flushes stdout at exit
        if isinstance(error, ConsoleError):  # a reader gone needs no word: it asked for no more
            print(error_line(os.path.basename(sys.argv[0]), f"standard output: {error.strerror}; send it to a disk "
                                                            f"with free space or to a terminal, then run again"),
                  file=sys.stderr)
        return 1
