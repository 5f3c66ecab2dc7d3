"""Splitting a batch over threads. NumPy's elementwise operations run on one core but release the GIL, so
disjoint slices of a batch can be processed at the same time; PyTorch's pooling uses every core the same way.
Matrix products need none of this: BLAS is multi-threaded already."""
import os
from concurrent.futures import ThreadPoolExecutor

MIN_ELEMENTS_PER_THREAD = 100_000  # below this, starting work on a thread costs more than it saves
_threads = int(os.environ.get("OMP_NUM_THREADS", "0")) or len(os.sched_getaffinity(0))
_pool = None


def thread_count():
    return _threads


def set_thread_count(count):
    """Use `count` threads from now on (default: OMP_NUM_THREADS, else the cores this process may use)."""
    global _threads, _pool
    _threads, _pool = max(1, count), None


def over_samples(work, samples, elements):
    """Call work(part) for contiguous slices `part` covering range(samples), in parallel when `elements` (the
    size of the job) is large enough; returns when every call has finished."""
    global _pool
    parts = max(1, min(_threads, samples, elements // MIN_ELEMENTS_PER_THREAD))
    if parts == 1:
        work(slice(0, samples))
        return
    if _pool is None or _pool._max_workers != _threads:
        _pool = ThreadPoolExecutor(_threads)
    bounds = [samples * p // parts for p in range(parts + 1)]
    for future in [_pool.submit(work, slice(a, b)) for a, b in zip(bounds, bounds[1:])]:
        future.result()  # re-raises an exception of the work
