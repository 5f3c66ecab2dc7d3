"""The theory scripts take no arguments: --help describes a script, anything else is one line (exit status 2);
a reader that stops early (`| head -1`) ends a script quietly."""
import argparse
import errno
import os
import signal
import sys


class _NoArguments(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (this script takes no arguments; see --help)\n")


def no_arguments(doc):
    """Answer --help with the first paragraph of `doc`; refuse any argument in one line."""
    _NoArguments(description=doc.split("\n\n")[0]).parse_args()


def reader_went_away(error):
    """A write to a pipe whose reader has gone: EPIPE, or on Windows EINVAL naming no file."""
    return isinstance(error, BrokenPipeError) or (
        sys.platform == "win32" and error.errno == errno.EINVAL and error.filename is None)


def usable_console():
    """Let print work on any console: a stream that is missing (closed with >&-, or under Windows' pythonw) writes
    to the null device, and a character the console's encoding lacks is written as an escape, not an error."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))
        elif hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def quiet_while_loading():
    """Called by a script before it imports numpy: Ctrl-C while the libraries load ends the process as it would a C
    program, not with a traceback from inside them; run() hands Ctrl-C back to Python. Ignored Ctrl-C stays so."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.SIG_DFL)


def run(main):
    """sys.exit(main()) on a usable console; when the reader of our output has gone away, end quietly with status
    1, as `cat` does. Ctrl-C, and `kill` (SIGTERM) taken as Ctrl-C so that no partial figure is left, end with one
    line and status 130."""
    usable_console()
    if signal.getsignal(signal.SIGINT) is signal.SIG_DFL:  # set by quiet_while_loading
        signal.signal(signal.SIGINT, signal.default_int_handler)
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        status = main()
        sys.stdout.flush()  # a closed pipe shows here rather than at exit
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        status = 130
    except OSError as error:
        if not reader_went_away(error):
            raise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python flushes stdout again at exit
        status = 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    sys.exit(status)
