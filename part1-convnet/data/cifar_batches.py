"""Reading one CIFAR-10 python batch (data_batch_1..5, test_batch) safely; the same file in both parts.

A batch is a pickle, and a pickle can run code when loaded, so the files are read with an unpickler that builds
only what a batch holds (dicts, lists, numpy arrays) and checked before anything is returned. Every problem with
a file, from missing to malformed, is a DataError whose one-line message names the file and the fix.
"""
import os
import pickle
import stat

import numpy as np

FETCH_HINT = "fetch CIFAR-10 again with `sh data/get_data.sh` (Windows: data\\get_data.bat)"
IMAGE_VALUES = 3 * 32 * 32  # one row of a batch's data: the R, G and B planes, each 32x32 row-major


class DataError(ValueError):
    """A CIFAR-10 batch file that is missing, unreadable or not what the python version of CIFAR-10 holds."""


class DataMissingError(DataError, FileNotFoundError):
    """A batch file (or the whole folder) that does not exist."""


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles only what a CIFAR batch holds (dicts, lists, numpy arrays): a pickle can otherwise run code.

    _codecs.encode is how Python 3 writes bytes at pickle protocol 2, which re-packed copies may use (and
    bytes() for an empty array's data); at protocol 5 (Python 3.14's default) numpy writes an array as
    _frombuffer(its bytes, dtype, shape, order), which only builds an array.
    """

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"), ("__builtin__", "bytes"),
                ("builtins", "bytes"), ("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.numeric", "_frombuffer"),
                ("numpy._core.numeric", "_frombuffer")}

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a CIFAR batch file")
        return _bytes_of_given_bytes if name == "bytes" else super().find_class(module, name)


def _bytes_of_given_bytes(*args):
    """bytes() and bytes(text, codec), as pickles build an array's data; bytes(n) is refused: those few bytes of a
    crafted file would ask for n zero bytes of memory, of any size."""
    if args and isinstance(args[0], int):
        raise pickle.UnpicklingError("bytes(n) in a CIFAR batch file")
    return bytes(*args)


def _field(batch, key):
    """batch[key] under a str or a bytes key: Python 2 wrote str keys, which a bytes-decoding load turns into bytes."""
    for candidate in (key, key.encode()):
        if candidate in batch:
            return batch[candidate]
    raise KeyError(key)


class _BadBatch(Exception):
    """What is wrong with an unpickled batch (turned into a DataError naming the file)."""


def _checked(batch):
    """(images uint8 (N, 3072), labels int64 (N,)) from an unpickled batch; _BadBatch saying what is wrong."""
    if not isinstance(batch, dict):
        raise _BadBatch(f"holds a {type(batch).__name__}, not a dict with data and labels")
    try:
        data, labels = _field(batch, "data"), _field(batch, "labels")
    except KeyError as missing:
        raise _BadBatch(f"has no '{missing.args[0]}' entry") from None
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "ui":
        kind = f"an array of {data.dtype}" if isinstance(data, np.ndarray) else f"a {type(data).__name__}"
        raise _BadBatch(f"data is {kind}, expected an array of uint8")
    if data.ndim == 0 or data.size == 0 or data.size != len(data) * IMAGE_VALUES:
        raise _BadBatch(f"data has shape {data.shape}, expected (N, {IMAGE_VALUES}) with N > 0")
    if data.dtype != np.uint8 and (data.min() < 0 or data.max() > 255):
        raise _BadBatch(f"data holds values {data.min()}..{data.max()}, expected 0..255")
    if not isinstance(labels, (list, tuple, np.ndarray)):
        raise _BadBatch(f"labels is a {type(labels).__name__}, expected a list of integers")
    try:
        labels = np.asarray(labels)
    except ValueError:  # a ragged list
        raise _BadBatch("labels is not a flat list of integers") from None
    if labels.ndim != 1 or labels.dtype.kind not in "ui":
        raise _BadBatch(f"labels is not a flat list of integers (got {labels.dtype}, shape {labels.shape})")
    if len(labels) != len(data):
        raise _BadBatch(f"holds {len(data)} images but {len(labels)} labels")
    if labels.min() < 0 or labels.max() > 9:
        bad = labels[(labels < 0) | (labels > 9)][0]
        raise _BadBatch(f"has label {bad}, expected 0..9")
    return data.reshape(len(data), IMAGE_VALUES).astype(np.uint8, copy=False), labels.astype(np.int64)


def read_batch(filename):
    """(images uint8 (N, 3072), labels int64 (N,)) of one batch file, or a DataError naming it."""
    try:
        mode = os.stat(filename).st_mode
    except FileNotFoundError:
        raise DataMissingError(f"{filename} not found; {FETCH_HINT}") from None
    except NotADirectoryError:  # the data folder given is a file (--data-dir main.py)
        raise DataMissingError(f"{os.path.dirname(filename)} is a file, not the folder of the batches; give the "
                               f"cifar-10-batches-py folder") from None
    except OSError as error:  # a folder on the way that this user may not read, say: fetching again would not help
        raise DataError(f"{filename} cannot be read ({error.strerror or error}); fix the permissions of the data "
                        f"folder") from None
    if not stat.S_ISREG(mode):  # a folder, a pipe or a device in its place
        raise DataError(f"{filename} is not a file; {FETCH_HINT}")
    try:
        if os.path.getsize(filename) == 0:
            raise _BadBatch("is empty")
        with open(filename, "rb") as f:
            return _checked(_BatchUnpickler(f, encoding="latin1").load())
    except _BadBatch as error:
        problem = str(error)
    except OSError as error:
        problem = f"cannot be read ({error.strerror or error})"
    except Exception as error:  # a damaged pickle fails in many ways: EOFError, UnpicklingError, ValueError, ...
        problem = f"is not a CIFAR-10 batch ({type(error).__name__}: {error})"
    problem = " ".join(problem.split())  # one line, whatever the underlying message says
    raise DataError(f"{filename}: {problem}; {FETCH_HINT}")
