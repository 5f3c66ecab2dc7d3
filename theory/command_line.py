"""The theory scripts take no arguments: --help describes a script, anything else is one line (exit status 2);
a reader that stops early (`| head -1`) ends a script quietly."""
import argparse
import errno
import importlib.util
import os
import signal
import sys


class _NoArguments(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (this script takes no arguments; see --help)\n")


def no_arguments(doc):
    """Answer --help with the first paragraph of `doc`; refuse any argument in one line."""
    _NoArguments(description=(doc or "").partition("\n\n")[0]).parse_args()  # python -OO: no docstrings


def reader_went_away(error):
    """A write to a pipe whose reader has gone: EPIPE, or on Windows EINVAL naming no file."""
    return isinstance(error, BrokenPipeError) or (
        sys.platform == "win32" and error.errno == errno.EINVAL and error.filename is None)


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`), which stops a script as Ctrl-C does, so that no partial figure is left."""


def stop_on_sigterm(number, frame):
    raise Terminated


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


def quiet_while_loading():
    """Called by a script before it imports numpy: Ctrl-C while the libraries load ends the process as it would a C
    program, not with a traceback from inside them; run() hands Ctrl-C back to Python. Ignored Ctrl-C stays so."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.SIG_DFL)


def before_loading(script, packages):
    """Called by a script before it imports `packages` ({module: the name pip installs it by}): Ctrl-C stays quiet
    while they load, a missing one is one line naming it and the fix (not a traceback from an import), and
    matplotlib draws to files whatever MPLBACKEND says (a notebook's inline backend would stop its import)."""
    quiet_while_loading()
    missing = [package for module, package in packages.items() if importlib.util.find_spec(module) is None]
    if missing:
        print(f"{script}: error: {', '.join(missing)} missing from {sys.executable}; use the kit's .venv "
              f"Python (README, Quick start), or install them: pip install -r requirements.txt, from the kit's top "
              f"folder", file=sys.stderr)
        sys.exit(2)
    os.environ["MPLBACKEND"] = "Agg"  # figures go to files; Agg needs no display


def run(main):
    """sys.exit(main()) on a usable console; when the reader of our output has gone away, end quietly with status
    1, as `cat` does. Ctrl-C and `kill` (SIGTERM, taken as Ctrl-C so that no partial figure is left) end with one
    line and the status a shell reports: 130 and 143."""
    usable_console()
    if signal.getsignal(signal.SIGINT) is signal.SIG_DFL:  # set by quiet_while_loading
        signal.signal(signal.SIGINT, signal.default_int_handler)
    previous = signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        status = main()
        sys.stdout.flush()  # a closed pipe shows here rather than at exit
    except KeyboardInterrupt as stop:
        how, status = ("stopped by SIGTERM", 143) if isinstance(stop, Terminated) else ("interrupted", 130)
        print(f"\n{how}", file=sys.stderr)
    except OSError as error:
        if not (reader_went_away(error) or isinstance(error, ConsoleError)):
            raise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python flushes stdout again at exit
        if isinstance(error, ConsoleError):  # a reader gone needs no word: it asked for no more
            print(f"{os.path.basename(sys.argv[0])}: error: standard output: {error.strerror}; send it to a disk with "
                  f"free space or to a terminal, then run again", file=sys.stderr)
        status = 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    sys.exit(status)
