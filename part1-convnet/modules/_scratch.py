"""Work buffers that each thread keeps from one call to the next.

A fresh multi-megabyte array costs its page faults (the OS maps and zeroes it on first touch) on every call, and
on the CPUs measured that was a tenth of Conv2D's backward. A kept buffer is already mapped, and often still in
the core's cache. Buffers start zeroed and callers rely on what they never write staying as it was (zero padding,
unused columns), so a key must name everything that decides which parts are written.
"""
import threading

import numpy as np

BYTES_KEPT = 64 * 2 ** 20  # per thread; the least recently used buffers go first beyond this
_local = threading.local()


def buffer(key, shape, dtype):
    """This thread's zero-initialised array for (key, shape, dtype), the same one on every call with them."""
    kept = getattr(_local, "kept", None)
    if kept is None:
        kept = _local.kept = {}  # insertion order = least recently used first
    full_key = (key, tuple(shape), np.dtype(dtype))
    array = kept.pop(full_key, None)
    if array is None:
        array = np.zeros(shape, dtype=dtype)
    kept[full_key] = array
    total = sum(a.nbytes for a in kept.values())
    for old_key in list(kept):
        if total <= BYTES_KEPT or old_key == full_key:
            break
        total -= kept.pop(old_key).nbytes
    return array
