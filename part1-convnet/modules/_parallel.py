"""Splitting a batch over threads. NumPy's elementwise operations run on one core but release the GIL, so
disjoint slices of a batch can be processed at the same time; PyTorch's layers use every core the same way.
Matrix products are multi-threaded by BLAS already; whether Conv2D gains from running its chunks on several
threads as well (each one's copies overlapping the other's products), with or without BLAS's own threads, is
timed (modules/convolution.py)."""
import contextlib
import os
import re
from concurrent.futures import ThreadPoolExecutor

try:
    from threadpoolctl import ThreadpoolController
except ImportError:  # optional: without it BLAS keeps its own thread count, and Conv2D offers no plan that limits it
    ThreadpoolController = None

MIN_ELEMENTS_PER_THREAD = 100_000  # below this, starting work on a thread costs more than it saves


def usable_cores():
    """The cores this process may run on, on any OS: os.process_cpu_count (Python 3.13+) and
    os.sched_getaffinity (Linux) respect CPU affinity; os.cpu_count (may be None) counts the machine's."""
    if hasattr(os, "process_cpu_count"):
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def threads_from_environment():
    """OMP_NUM_THREADS's leading integer (OpenMP allows a list per nesting level, "4,2"); 0 when it is unset, empty
    or not a number, so that the core count decides rather than an import failing."""
    leading = re.match(r"\s*(\d+)", os.environ.get("OMP_NUM_THREADS", ""))
    return int(leading.group(1)) if leading else 0


_threads = threads_from_environment() or usable_cores()
_pool, _pool_threads = None, 0  # created on first parallel use; _pool_threads is the size it was made with
# made on first use, once NumPy has loaded its BLAS: finding the libraries costs ~0.2 ms, a limit on them then ~15 us
_blas_controller = None


def thread_count():
    return _threads


def set_thread_count(count):
    """Use `count` threads from now on (default: OMP_NUM_THREADS, else the cores this process may use)."""
    global _threads
    _threads = max(1, count)


def _thread_pool():
    """The shared pool, rebuilt when set_thread_count has changed the thread count since it was made."""
    global _pool, _pool_threads
    if _pool_threads != _threads:
        if _pool is not None:
            _pool.shutdown()
        _pool, _pool_threads = ThreadPoolExecutor(_threads), _threads
    return _pool


def can_limit_blas():
    return ThreadpoolController is not None


def blas_threads(limit):
    """A context in which BLAS runs its products on at most `limit` threads (None: as many as it would anyway)."""
    global _blas_controller
    if limit is None:
        return contextlib.nullcontext()
    if _blas_controller is None:
        _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=limit, user_api="blas")


def in_parts(work, samples, parts):
    """Call work(part) for `parts` contiguous slices covering range(samples), each on a thread of the pool; returns
    when every call has finished."""
    parts = max(1, min(parts, samples))
    if parts == 1:
        work(slice(0, samples))
        return
    bounds = [samples * p // parts for p in range(parts + 1)]
    pool = _thread_pool()
    for future in [pool.submit(work, slice(a, b)) for a, b in zip(bounds, bounds[1:])]:
        future.result()  # re-raises an exception of the work


def over_samples(work, samples, elements):
    """in_parts over as many threads as there are, fewer when `elements` (the size of the job) is too small for
    each thread to get MIN_ELEMENTS_PER_THREAD."""
    in_parts(work, samples, min(_threads, elements // MIN_ELEMENTS_PER_THREAD))


def in_chunks(work, samples, chunk, threads, blas_limit=None):
    """Split range(samples) among `threads` threads in contiguous runs; each thread calls work(parts) once, with
    its run cut into consecutive slices of at most `chunk` samples (so that it can reuse its buffers for them).
    BLAS uses at most `blas_limit` threads meanwhile (None: its own count); the limit is set once for the call."""
    def run(share):
        step = max(chunk, 1)  # an empty batch has a chunk of 0 and nothing to cut
        work([slice(start, min(start + step, share.stop)) for start in range(share.start, share.stop, step)])
    with blas_threads(blas_limit):
        in_parts(run, samples, threads)
