"""Fetch CIFAR-10 (python version) and unpack cifar-10-batches-py/ beside this file.

Called by get_data.sh / get_data.bat, or run directly from any folder. Environment:
  CIFAR10_ARCHIVE=path  use a local archive instead of downloading (a relative path is taken from the folder
                        you run the command in)
  CIFAR10_MD5=sum       the md5 that archive must have (default: the canonical one)
Exit status 0 on success or when checked data is already there, 2 for a wrong argument or setting, 1 on any
other failure, 130 on Ctrl-C and 143 on SIGTERM (128 + the signal, as a shell reports it); a failure or a stop is
one line on stderr and leaves nothing behind (no temporary folder, no partial cifar-10-batches-py).

Only the standard library is needed: the batches are checked with an unpickler that builds placeholders for
numpy's arrays (and nothing else), so a bare python3 without numpy can fetch the data safely.
"""
import argparse
import codecs
import errno
import glob
import hashlib
import http.client
import os
import pickle
import re
import shutil
import signal
import sys
import tarfile
import tempfile
import time
import urllib.request
import zlib

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CANONICAL_MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
EXPECTED_FILES = ["batches.meta"] + BATCHES
IMAGES_PER_BATCH = 10000
IMAGE_VALUES = 3 * 32 * 32
WORK_PREFIX = ".cifar-"  # temporary folders beside this file: .cifar-<pid>-<random>/, holding OWNER_LOCK
OWNER_LOCK = "owner.lock"  # locked by the running fetch; a folder whose lock nobody holds is a dead run's
UNLOCKED_STALE_S = 3600  # a work folder without its lock file (killed right after mkdtemp) is stale after this
NOT_CIFAR = "is it the CIFAR-10 python version (cifar-10-python.tar.gz)?"


class FetchError(Exception):
    """A failure, explained in one line (what, where, and how to fix it)."""


class SettingError(FetchError):
    """A CIFAR10_* setting that cannot work: the user's input, so exit status 2 as for a wrong argument."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, a scheduler ending the job), which cleans up as Ctrl-C does: no work folder left."""


def stop_on_sigterm(number, frame):
    raise Terminated


def md5_of(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- Checking batches without numpy: placeholders for what numpy's pickles build --------------------------------

class _Array:
    """Stands in for numpy.ndarray: keeps the shape, dtype and raw bytes that ndarray.__setstate__ receives."""

    shape, dtype, raw = None, None, None

    def __setstate__(self, state):
        _, self.shape, self.dtype, _, self.raw = state  # (version, shape, dtype, fortran order, data)


class _Dtype:
    """Stands in for numpy.dtype: keeps the type code ('u1' for uint8)."""

    def __init__(self, code, align=False, copy=True):
        self.code = code.decode("latin1") if isinstance(code, bytes) else code

    def __setstate__(self, state):
        pass  # byte order and field layout: irrelevant for one-byte values


def _reconstruct(cls, shape, dtype_code):
    return _Array()


def _frombuffer(raw, dtype, shape, order):
    """numpy's form of an array at pickle protocol 5 (Python 3.14's default): its bytes, dtype, shape, order."""
    array = _Array()
    array.raw, array.dtype, array.shape = bytes(raw), dtype, shape
    return array


def _bytes_of_given_bytes(*args):
    """bytes() and bytes(text, codec), as pickles build an array's data; bytes(n) is refused: those few bytes of a
    crafted file would ask for n zero bytes of memory, of any size."""
    if args and isinstance(args[0], int):
        raise pickle.UnpicklingError("bytes(n) in a batch file")
    return bytes(*args)


def _latin1(text, encoding):
    """_codecs.encode as Python 3 pickles bytes at protocol 2; any other codec is refused."""
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"unexpected codec {encoding!r}")
    return codecs.encode(text, "latin1")


class _PlaceholderUnpickler(pickle.Unpickler):
    """Builds only dicts, lists, numbers, strings and the placeholders above: a pickle can otherwise run code."""

    _BUILDERS = {("numpy", "ndarray"): _Array, ("numpy", "dtype"): _Dtype, ("_codecs", "encode"): _latin1,
                 ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
                 ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
                 ("numpy.core.numeric", "_frombuffer"): _frombuffer,
                 ("numpy._core.numeric", "_frombuffer"): _frombuffer,
                 ("__builtin__", "bytes"): _bytes_of_given_bytes, ("builtins", "bytes"): _bytes_of_given_bytes}

    def find_class(self, module, name):
        try:
            return self._BUILDERS[module, name]
        except KeyError:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}") from None


def _one_line(error):
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


def _load(path):
    with open(path, "rb") as f:
        return _PlaceholderUnpickler(f, encoding="bytes").load()


def batch_problem(path):
    """What is wrong with one data/test batch file, or None: it must hold 10,000 uint8 images and 10,000 labels."""
    try:
        batch = _load(path)
    except Exception as error:  # a damaged pickle fails in many ways: EOFError, UnpicklingError, ValueError, ...
        return f"is not a readable pickle ({_one_line(error)})"
    if not isinstance(batch, dict):
        return f"holds a {type(batch).__name__}, not a dict"
    data, labels = batch.get(b"data", batch.get("data")), batch.get(b"labels", batch.get("labels"))
    if not (isinstance(data, _Array) and isinstance(data.dtype, _Dtype) and data.dtype.code == "u1"
            and tuple(data.shape or ()) == (IMAGES_PER_BATCH, IMAGE_VALUES) and isinstance(data.raw, bytes)
            and len(data.raw) == IMAGES_PER_BATCH * IMAGE_VALUES):
        return f"has no 'data' array of {IMAGES_PER_BATCH} x {IMAGE_VALUES} uint8 values"
    if not (isinstance(labels, list) and len(labels) == IMAGES_PER_BATCH
            and all(type(label) is int and 0 <= label <= 9 for label in labels)):
        return f"has no 'labels' list of {IMAGES_PER_BATCH} integers in 0..9"
    return None


def folder_problem(folder):
    """What is wrong with an unpacked cifar-10-batches-py, or None when all seven files are there and sound."""
    for name in EXPECTED_FILES:
        path = os.path.join(folder, name)
        if os.path.islink(path) or not os.path.isfile(path):
            return f"{FOLDER}/{name} is missing (or not a regular file)"
    try:
        if not isinstance(_load(os.path.join(folder, "batches.meta")), dict):
            return f"{FOLDER}/batches.meta does not hold a dict"
    except Exception as error:
        return f"{FOLDER}/batches.meta is not a readable pickle ({_one_line(error)})"
    for name in BATCHES:
        problem = batch_problem(os.path.join(folder, name))
        if problem:
            return f"{FOLDER}/{name} {problem}"
    return None


# -- Temporary work folders and their owners -----------------------------------------------------------------

def _try_lock(f):
    """Lock f's first byte without waiting; False when another process holds it (or locking is unavailable)."""
    f.seek(0)
    try:
        if os.name == "nt":
            import msvcrt
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except (ImportError, AttributeError, OSError):
        return False


def _unlock(f):
    """Release _try_lock's lock before closing: Windows wants byte-range locks undone, not left to close()."""
    if os.name == "nt":
        import msvcrt
        f.seek(0)
        try:
            msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
        except OSError:
            pass  # not ours to release: another process holds it
    f.close()


def _owner_is_gone(folder):
    try:
        lock = open(os.path.join(folder, OWNER_LOCK), "r+b")
    except FileNotFoundError:
        try:
            return time.time() - os.path.getmtime(folder) > UNLOCKED_STALE_S
        except OSError:
            return False
    except OSError:
        return False
    try:
        return _try_lock(lock)
    finally:
        _unlock(lock)


def remove_stale_work_folders(here):
    """Remove the temporary folders of fetches that were killed (their owner lock is free); keep live ones."""
    for name in os.listdir(here):
        path = os.path.join(here, name)
        if name.startswith(WORK_PREFIX) and os.path.isdir(path) and not os.path.islink(path) \
                and _owner_is_gone(path):
            shutil.rmtree(path, ignore_errors=True)


def remove_own_work_folders(here):
    """Remove this process's work folders (named by its pid): what an interrupted fetch leaves, whatever the moment."""
    for path in glob.glob(os.path.join(glob.escape(here), f"{glob.escape(WORK_PREFIX)}{os.getpid()}-*")):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)


def make_work_folder(here):
    """A new .cifar-<pid>-* folder beside this file (same filesystem: the final rename is atomic), locked by us."""
    try:
        work = tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{os.getpid()}-", dir=here)
        lock = open(os.path.join(work, OWNER_LOCK), "w+b")
    except OSError as error:  # on a read-only disk permissions cannot help
        fix = ("copy the kit to a disk you can write to" if error.errno == errno.EROFS else
               "make that folder writable (or copy the kit somewhere writable)")
        raise FetchError(f"cannot create a temporary folder in {here} ({error.strerror or error}); {fix}") from None
    lock.write(b"\0")
    lock.flush()
    _try_lock(lock)
    return work, lock


# -- Getting and unpacking the archive --------------------------------------------------------------------------

class _Progress:
    """urlretrieve's reporthook: a tqdm bar when tqdm is installed, else a line at each further 10%."""

    def __init__(self):
        try:
            from tqdm import tqdm
        except ImportError:
            tqdm = None
        self.tqdm, self.bar, self.tenths = tqdm, None, 0

    def __call__(self, blocks, block_size, total):
        done = blocks * block_size if total <= 0 else min(blocks * block_size, total)
        if self.tqdm is not None:
            if self.bar is None:
                self.bar = self.tqdm(total=total if total > 0 else None, unit="B", unit_scale=True, file=sys.stderr)
            self.bar.update(done - self.bar.n)
        elif total > 0 and done * 10 // total > self.tenths:
            self.tenths = done * 10 // total
            print(f"  {self.tenths * 10}%", file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def say(text):
    """A progress line on stdout. Output that cannot be written, as a reader that went away (`| head -1`) or a full
    disk under `> log`, does not stop the fetch: the rest goes to the null device, so Python's flush at exit finds
    nothing to complain about, and the exit status tells the outcome."""
    try:
        print(text, flush=True)
    except OSError:  # EPIPE (on Windows EINVAL, naming no file), ENOSPC, EIO: all are stdout's
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def download(dest):
    """URL -> dest, with progress on stderr when stderr is a terminal."""
    progress = _Progress() if sys.stderr.isatty() else None
    say(f"Downloading {URL} ...")
    try:
        urllib.request.urlretrieve(URL, dest, reporthook=progress)
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise FetchError(f"download of {URL} failed ({_one_line(error)}); "
                         "check the network, or download it yourself and set CIFAR10_ARCHIVE=path") from None
    finally:
        if progress is not None:
            progress.close()


def safe_extract(archive, dest, refetch):
    """Extract only regular files and folders that land inside dest (no links, no '..', no absolute paths)."""
    dest = os.path.realpath(dest)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            for m in members:
                target = os.path.realpath(os.path.join(dest, m.name))
                if not (m.isfile() or m.isdir()) or os.path.commonpath([dest, target]) != dest:
                    raise FetchError(f"{archive} has an unsafe entry {m.name!r} (a link, or a path outside its "
                                     f"folder); {NOT_CIFAR}")
            if hasattr(tarfile, "data_filter"):  # Python 3.12, and security releases of 3.8-3.11
                tar.extractall(dest, members=members, filter="data")
            else:
                tar.extractall(dest, members=members)
    except OSError as error:
        if error.errno is None:  # gzip.BadGzipFile and kin: the archive, not the disk
            raise FetchError(f"{archive} is not a readable .tar.gz ({_one_line(error)}); {refetch}") from None
        if error.errno in (errno.EISDIR, errno.ENOTDIR, errno.EEXIST):  # a file and a folder of one name
            raise FetchError(f"{archive} holds two entries of one name, a file and a folder; {NOT_CIFAR}") from None
        fix = {errno.ENOSPC: "free some disk space", errno.EROFS: "copy the kit to a disk you can write to",
               errno.EACCES: "make that folder writable", errno.EPERM: "make that folder writable"}
        raise FetchError(f"cannot unpack {archive} in {os.path.dirname(dest)} ({error.strerror}); "
                         f"{fix.get(error.errno, 'check the disk (it failed to write)')}") from None
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise FetchError(f"{archive} is not a complete .tar.gz ({_one_line(error)}); "
                         f"{refetch}") from None


def environment_settings():
    """(the local archive's absolute path, or None to download; the md5 it must have) from CIFAR10_ARCHIVE and
    CIFAR10_MD5, checked before anything is fetched."""
    local = os.environ.get("CIFAR10_ARCHIVE")
    expected_md5 = (os.environ.get("CIFAR10_MD5", "").strip() or CANONICAL_MD5).lower()  # set but blank: the default
    if not re.fullmatch(r"[0-9a-f]{32}", expected_md5):
        raise SettingError(f"CIFAR10_MD5={expected_md5} is not an md5 sum (32 hex digits); give the archive's "
                           f"sum, or unset CIFAR10_MD5 for the canonical one")
    if not local:
        return None, expected_md5
    archive = os.path.abspath(local)  # relative to the caller's folder: get_data.sh does not cd
    if not os.path.isfile(archive):
        what = ("is a folder" if os.path.isdir(archive) else "does not exist" if not os.path.exists(archive) else
                "is not a regular file (a device or a pipe)")
        raise SettingError(f"CIFAR10_ARCHIVE={local}: {archive} {what}; give the path of "
                           "cifar-10-python.tar.gz, or unset CIFAR10_ARCHIVE to download it")
    return archive, expected_md5


def fetch(here):
    final = os.path.join(here, FOLDER)
    if os.path.lexists(final) and not os.path.isdir(final):
        raise FetchError(f"{final} exists but is not a folder; move it away and run get_data again")
    remove_stale_work_folders(here)
    if os.path.isdir(final):
        problem = folder_problem(final)
        if problem is None:
            say(f"CIFAR-10 already in {final}; nothing to do.")
            return 0
        say(f"{final} is incomplete or damaged ({problem}); fetching it again.")
    archive, expected_md5 = environment_settings()
    work, lock = make_work_folder(here)
    try:
        if archive:
            refetch = "fetch the archive again, or unset CIFAR10_ARCHIVE to download it"
        else:
            archive = os.path.join(work, "cifar-10-python.tar.gz")
            refetch = "run get_data again to download it afresh"
            download(archive)
        actual = md5_of(archive)
        if actual != expected_md5:
            raise FetchError(f"md5 of {archive} is {actual}, expected {expected_md5}; {refetch} "
                             "(or set CIFAR10_MD5 to the sum you expect if this archive is trusted)")
        safe_extract(archive, work, refetch)
        problem = folder_problem(os.path.join(work, FOLDER))
        if problem:
            raise FetchError(f"{archive}: {problem}; {NOT_CIFAR}")
        install(os.path.join(work, FOLDER), final, work)
    finally:
        _unlock(lock)
        shutil.rmtree(work, ignore_errors=True)  # the download, any partial extraction, any previous copy
    say(f"CIFAR-10 ready in {final}")
    return 0


def install(unpacked, final, work):
    """Move the checked folder `unpacked` to `final`, the damaged copy there into `work` (deleted with it), unless
    a fetch run at the same time has put a sound copy there meanwhile."""
    if os.path.lexists(final):
        if folder_problem(final) is None:
            return  # the other fetch's: as good as ours
        replace_when_free(final, os.path.join(work, "previous"))
    try:
        replace_when_free(unpacked, final)
    except (OSError, FetchError):
        if folder_problem(final) is not None:  # not the other fetch's sound copy in the way: a real failure
            raise


def replace_when_free(folder, target, waits=(0.1, 0.2, 0.5, 1, 2, 4)):
    """os.replace of a folder. Windows refuses while any file in it is open (a virus scanner reading the new
    batches, a terminal or Explorer inside the old copy): there try again for a few seconds, then say so."""
    for wait in (*waits, None):
        try:
            return os.replace(folder, target)
        except PermissionError as error:
            if os.name != "nt":
                raise
            if wait is None:
                raise FetchError(f"{folder} could not be moved ({error.strerror}); is a file in it open in another "
                                 "program, or a terminal or Explorer window inside it? close it and run get_data "
                                 "again") from None
            time.sleep(wait)


class NoArguments(argparse.ArgumentParser):
    """--help, and one error line for anything else: the settings come from the environment."""

    def error(self, message):
        self.exit(2, f"get_data: error: {message}; this script takes no arguments (a local archive: set "
                     f"CIFAR10_ARCHIVE=path; see --help)\n")


def usable_console():
    """Let print work on any console: a stream that is missing (closed with >&-, or under Windows' pythonw) writes
    to the null device, and a character the console's encoding lacks is written as an escape, not an error."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))
        elif hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def one_line(message):
    """The message with its control characters (a newline in a setting or a path, say) written as escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(message))


def main():
    usable_console()
    NoArguments(description=(__doc__ or "").partition("\n\n")[0], epilog=(__doc__ or "").partition("\n\n")[2],
                formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()  # --help only
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        return fetch(here)
    except FetchError as error:
        print(f"get_data: error: {one_line(error)}", file=sys.stderr)
        return 2 if isinstance(error, SettingError) else 1
    except OSError as error:  # anything not foreseen above, still as one line
        print(f"get_data: error: {one_line(error)}", file=sys.stderr)
    except KeyboardInterrupt as stop:
        remove_own_work_folders(here)  # Ctrl-C may land while the folder is made, before fetch() would remove it
        how, status = ("stopped by SIGTERM", 143) if isinstance(stop, Terminated) else ("interrupted", 130)
        print(f"get_data: {how}; nothing was kept", file=sys.stderr)
        return status
    return 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    sys.exit(main())
