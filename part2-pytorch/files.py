"""Files that survive a kill at any instant: atomic writes, the leftovers of killed ones, and folder locks.

A file is written to a temporary name in its own folder and renamed over the target, so a reader sees the old
file or the new one, never half of either. A lock is an operating-system lock on a small file: it is released
when its owner exits for any reason, so a killed run never leaves a folder locked.
"""
import contextlib
import errno
import glob
import os
import signal
import threading
import time

try:
    import fcntl  # POSIX
except ImportError:  # Windows
    fcntl = None
    import msvcrt


def _temporary_name(path):
    return f"{path}.{os.getpid()}.tmp"  # same folder as `path`, so the rename is atomic


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, a scheduler cancelling or timing out a job) taken as Ctrl-C, under sigterm_as_interrupt."""


def _raise_terminated(number, frame):
    raise Terminated


_STOPS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: _raise_terminated}


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within the block SIGTERM raises Terminated, so a job stopped by its scheduler ends as after Ctrl-C: at a
    safe point, saying what it kept. Only the main thread can set handlers; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def how_stopped(stop):
    """The KeyboardInterrupt `stop` in words, and the exit status a shell gives its signal (128 + its number)."""
    return ("stopped by SIGTERM", 143) if isinstance(stop, Terminated) else ("interrupted", 130)


@contextlib.contextmanager
def interrupts_held():
    """Hold Ctrl-C (and SIGTERM under sigterm_as_interrupt) until the block ends, then raise it: a writer
    interrupted halfway (torch.save's zip writer turns it into a RuntimeError) would lose the interrupt and print
    a traceback. Nests; only the main thread receives signals, so elsewhere, or for a signal under a handler of
    the caller's own, it does nothing."""
    held = [] if threading.current_thread() is not threading.main_thread() else [
        number for number, handler in _STOPS.items() if signal.getsignal(number) is handler]
    caught = []
    for number in held:
        signal.signal(number, lambda number, frame: caught.append(number))
    try:
        yield
    finally:
        for number in held:
            signal.signal(number, _STOPS[number])
    if caught:  # only after a block that ended well: an error of the block itself says more
        _STOPS[caught[0]](caught[0], None)


def write_atomically(path, write, mode="wb"):
    """Call write(file) on a temporary file, flush it to disk, then rename it to `path`. Ctrl-C waits for the end."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with interrupts_held():
        _write_then_rename(path, write, mode)


def _write_then_rename(path, write, mode):
    temporary = _temporary_name(path)
    try:
        with open(temporary, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        replace_when_free(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError) and error.errno and error.filename in (None, temporary):
            raise type(error)(error.errno, error.strerror, path) from None  # the file the user knows, not ours
        raise


def os_error_line(error, then="run again"):
    """What a command line says of an OSError: the file, the system's reason, the fix and what to do then."""
    return f"{error.filename or 'a file'}: {error.strerror or error}; {what_to_do(error)}, then {then}"


def what_to_do(error):
    """The fix, by its cause, for an OSError of reading or writing a file."""
    if isinstance(error, OpenElsewhere):  # or, refused as long as it is tried, no right to replace it
        return "close it there (if nothing holds it, fix the permissions)"
    if error.errno == errno.ENOSPC:
        return "free some disk space"
    if error.errno == getattr(errno, "ENOLCK", None):
        return "keep the kit on a local disk (this file system cannot lock files)"
    # Windows says EACCES where a folder stands in a file's place; elsewhere EACCES on a folder is its permissions
    folder_in_the_way = (os.name == "nt" and error.errno == errno.EACCES and error.filename
                         and os.path.isdir(error.filename))
    if error.errno in (errno.EEXIST, errno.ENOTDIR, errno.EISDIR) or folder_in_the_way:
        return "a file or folder of that name is in the way: move it"
    if error.errno == errno.ENAMETOOLONG:
        return "a name in the path, or the whole path, is too long: use a shorter name or move the kit higher up"
    too_long_for_windows = (os.name == "nt" and error.errno == errno.ENOENT and error.filename
                            and len(os.path.abspath(error.filename)) >= 260)
    if too_long_for_windows:  # past 260 characters Windows says only "not found", unless long paths are enabled
        return "the path is past Windows' 260 characters: move the kit to a folder with a shorter path (C:\\kit)"
    if error.errno == errno.EROFS:  # a read-only mount: permissions cannot help
        return "copy the kit to a disk you can write to"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "fix the permissions"
    return "check the disk (it failed to read or write)"


class OpenElsewhere(PermissionError):
    """Windows refused to replace a file, or to move a folder, that another program holds open (a file in it)."""


def replace_when_free(source, target, waits=(0.1, 0.2, 0.5, 1, 2)):
    """os.replace. Windows refuses while another program holds the file `target` open (a spreadsheet, a viewer),
    for a folder `source` any file in it, or for a first write the new file (a virus scanner, a sync tool): there
    try again for a few seconds, then raise OpenElsewhere where something held open is the likely cause."""
    folder = os.path.isdir(source)
    for wait in (*waits, None):
        try:
            return os.replace(source, target)
        except PermissionError as error:
            if os.name != "nt" or (wait is None and not (folder or os.path.isfile(target))):
                raise
            if wait is None:
                held = "a file in it" if folder else "it"
                raise OpenElsewhere(error.errno, f"{error.strerror} (is {held} open in another program?)",
                                    source if folder else target) from None
            time.sleep(wait)


def remove_leftovers(path, older_than=None):
    """Delete the temporary files of killed writes of `path` (folder/* for every file of a folder). So that no live
    writer's temporary file is removed, either hold the lock that guards `path`, or, where no lock does, give
    `older_than` in seconds, well beyond the write's duration: each write a writer makes dates its file."""
    pattern = glob.escape(path[:-1]) + "*" if path.endswith("*") else glob.escape(path)
    for leftover in glob.glob(pattern + ".*.tmp"):
        with contextlib.suppress(OSError):
            if older_than is None or time.time() - os.path.getmtime(leftover) > older_than:
                os.unlink(leftover)


class Busy(Exception):
    """The lock is held by another live process."""


# how a lock another process holds is refused: flock's EWOULDBLOCK; msvcrt's EACCES or EDEADLOCK
HELD_ELSEWHERE = {errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES, getattr(errno, "EDEADLOCK", errno.EDEADLK)}


class FileLock:
    """An exclusive lock on the file `path` (created if missing), held from enter to exit.

    wait=False raises Busy at once when another process holds it; the message names that process. Any other
    failure (a file system that cannot lock, a full disk) is an OSError naming the lock file."""

    def __init__(self, path, wait=True):
        self.path, self.wait, self._file = path, wait, None

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        self._file = open(self.path, "a+", encoding="utf-8")
        try:
            self._lock()
        except OSError as error:
            if error.errno not in HELD_ELSEWHERE:
                self._file.close()
                raise OSError(error.errno, error.strerror, self.path) from None
            owner = "unknown"
            with contextlib.suppress(OSError):  # Windows refuses to read a locked byte
                self._file.seek(0)
                owner = self._file.read().strip() or owner
            self._file.close()
            raise Busy(f"{self.path} is held by process {owner}") from None
        try:  # our pid, for the message of a run refused while we hold it
            self._file.seek(0)
            self._file.truncate()
            self._file.write(str(os.getpid()))
            self._file.flush()
        except OSError as error:
            self.__exit__(None, None, None)
            raise OSError(error.errno, error.strerror, self.path) from None
        return self

    def _lock(self):
        if fcntl is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
        else:
            while True:  # one byte is the lock; LK_LOCK gives up after 10 s of trying, so try again
                self._file.seek(0)
                try:
                    return msvcrt.locking(self._file.fileno(), msvcrt.LK_LOCK if self.wait else msvcrt.LK_NBLCK, 1)
                except OSError:
                    if not self.wait:
                        raise

    def __exit__(self, *exc):
        if fcntl is None:
            self._file.seek(0)
            with contextlib.suppress(OSError):
                msvcrt.locking(self._file.fileno(), msvcrt.LK_UNLCK, 1)
        self._file.close()  # on POSIX closing releases the flock
        return False

