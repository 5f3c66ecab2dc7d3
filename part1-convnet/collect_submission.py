"""Zip what part 1 is graded on (modules/ optimizer/ trainer.py train.py) into assignment_2_part1_submission.zip
beside this script, from any folder: python collect_submission.py (or collect_submission.sh / .bat).

Hidden files (.DS_Store), __pycache__ and byte code stay out. The zip is written to a temporary file in the same
folder and renamed over the old one only once complete, so a file that cannot be read, a full disk or Ctrl-C
leaves the earlier zip as it was. Python's zipfile: no `zip` program needed.

Only the standard library, so that any Python 3.8 or newer can hand in: the few console and file helpers it
shares with train.py are small copies here (train.py is handed in whole and imports numpy and matplotlib).
"""
import argparse
import contextlib
import errno
import os
import re
import signal
import sys
import tempfile
import time
import zipfile

GRADED = ("modules", "optimizer", "trainer.py", "train.py")
ZIP = "assignment_2_part1_submission.zip"
LEFTOVER_AGE_S = 3600  # a zip or a figure takes seconds: a temporary file an hour old is no live run's


class OneLineErrorParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (it takes no arguments; see --help)\n")


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, a scheduler ending the job), which stops as Ctrl-C does: no partial zip left."""


def stop_on_sigterm(number, frame):
    raise Terminated


def wanted(name):
    return not name.startswith(".") and name != "__pycache__" and not name.endswith(".pyc")


def submission_files():
    """The paths the zip holds, relative to this folder, folders walked in name order."""
    paths = []
    for graded in GRADED:
        if not os.path.isdir(graded):
            paths.append(graded)  # a missing file is reported when it is read
            continue
        seen = set()  # folders walked: a link back to one of them is not walked again
        for parent, folders, names in os.walk(graded, followlinks=True):  # a linked folder's files go in too
            seen.add(os.path.realpath(parent))
            folders[:] = sorted(name for name in folders
                                if wanted(name) and os.path.realpath(os.path.join(parent, name)) not in seen)
            paths += [os.path.join(parent, name) for name in sorted(names)
                      if wanted(name) and not is_special(os.path.join(parent, name))]
    return paths


def is_special(path):
    """A pipe, socket or device: zipping a pipe would wait for a writer (a link to nothing stays: it is reported)."""
    return os.path.exists(path) and not os.path.isfile(path)


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


def write_zip(target, paths):
    """Zip paths into a temporary file beside target, then rename it to target."""
    remove_killed_partials(os.path.dirname(target), ".submission-", ".zip.tmp")
    fd, partial = tempfile.mkstemp(prefix=".submission-", suffix=".zip.tmp", dir=os.path.dirname(target))
    try:
        # strict_timestamps=False: a file dated before 1980 (a zip's first date) is stored as 1980, not refused
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED, strict_timestamps=False) as zf:
            for path in paths:
                zf.write(path)
        set_usual_permissions(partial)
        replace_when_free(partial, target)
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
    """os.replace; Windows refuses while another program holds the old zip open, or the new one (a virus
    scanner), so there try again for a few seconds, then say what to do."""
    for wait in (*waits, None):
        try:
            return os.replace(partial, path)
        except PermissionError as error:
            if os.name != "nt" or (wait is None and not os.path.isfile(path)):
                raise
            if wait is None:
                raise PermissionError(error.errno, f"{error.strerror}; is it open in another program? close it "
                                                   f"there") from None  # the message names the zip already
            time.sleep(wait)


def disk_fix(error):
    """What to do about a failed write whose cause is the disk, not permissions: full, read-only, or failing."""
    if error.errno == errno.ENOSPC:
        return "free some disk space"
    if error.errno == errno.EROFS:  # a read-only mount: permissions cannot help
        return "copy the kit to a disk you can write to"
    return "check the disk (it failed to write)"


def usable_console():
    """Let print work on any console: a stream that is missing (closed with >&-, or under Windows' pythonw) writes
    to the null device, and a character the console's encoding lacks is written as an escape, not an error."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))
        elif hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def main(argv=None):
    usable_console()
    OneLineErrorParser(prog="collect_submission.py", description=(__doc__ or "").partition("\n\n")[0]).parse_args(argv)
    here = os.path.dirname(os.path.abspath(__file__))
    target = os.path.join(here, ZIP)
    if os.path.isdir(target):
        print(f"collect_submission.py: error: {target} is a folder; move it out of the way and run again",
              file=sys.stderr)
        return 2
    os.chdir(here)  # the zip's names are relative to this folder
    paths = submission_files()
    for path in paths:  # zipfile would stop halfway with a traceback
        shown = path.encode("utf-8", "backslashreplace").decode("utf-8")  # a name of other bytes: lone surrogates
        if shown != path:
            print(f"collect_submission.py: error: {shown}: a file name that is not UTF-8 cannot go in a zip; rename "
                  f"the file ({ZIP} not written; any earlier one is kept)", file=sys.stderr)
            return 2
    try:
        write_zip(target, paths)
    except OSError as error:
        where = f": {error.filename}" if error.filename else ""
        fix = "" if isinstance(error, PermissionError) else f"{disk_fix(error)}; "  # one held open says its fix
        print(f"collect_submission.py: error: {ZIP} not written ({error.strerror or error}{where}); {fix}any "
              f"earlier {ZIP} is kept", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        how, status = ("stopped by SIGTERM", 143) if isinstance(stop, Terminated) else ("interrupted", 130)
        print(f"collect_submission.py: {how}; {ZIP} not written, any earlier one is kept", file=sys.stderr)
        return status
    try:
        print(f"wrote {target} ({len(paths)} files)", flush=True)
    except OSError as error:  # the zip is whole; what failed is the line saying so
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python flushes stdout again at exit
        reader_gone = isinstance(error, BrokenPipeError) or (sys.platform == "win32" and error.errno == errno.EINVAL)
        if not reader_gone:  # a full disk under `> log`; a reader gone (`| head -0`) asked for no word
            print(f"collect_submission.py: error: {target} is written, but standard output is not "
                  f"({error.strerror or error})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    sys.exit(main())
