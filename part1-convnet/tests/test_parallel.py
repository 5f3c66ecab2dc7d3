import os
import subprocess
import sys
import threading
import types
import unittest
from unittest import mock

import numpy as np

from modules import Conv2D, _parallel
from modules._parallel import in_parts, over_samples, set_thread_count, thread_count, usable_cores

PART1 = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRINT_THREADS = ("import modules\n"
                 "from modules._parallel import thread_count, usable_cores\n"
                 "print(thread_count(), usable_cores())")


def threads_under(omp_num_threads):
    """(thread count, usable cores) that a fresh import of part 1 sees with OMP_NUM_THREADS set so."""
    result = subprocess.run([sys.executable, "-c", PRINT_THREADS], cwd=PART1, capture_output=True, text=True,
                            timeout=120, env=dict(os.environ, OMP_NUM_THREADS=omp_num_threads,
                                                  PYTHONDONTWRITEBYTECODE="1"))
    if result.returncode != 0:
        raise AssertionError(f"import failed with OMP_NUM_THREADS={omp_num_threads!r}:\n{result.stderr}")
    threads, cores = map(int, result.stdout.split())
    return threads, cores


class OmpNumThreads(unittest.TestCase):
    def test_the_leading_integer_is_the_thread_count(self):
        # OpenMP's per-level list "4,2" means 4 at the outer level
        for value, expected in (("3", 3), ("4,2", 4), (" 2 ", 2), ("5,", 5)):
            with self.subTest(value=value):
                self.assertEqual(threads_under(value)[0], expected)

    def test_leading_spaces_before_the_count_are_allowed(self):
        # a count other than the core count, which is also what an unparsed value gives
        value = usable_cores() + 1
        self.assertEqual(threads_under(f" {value}")[0], value)

    def test_unset_empty_or_unparseable_values_fall_back_to_the_core_count(self):
        for value in ("", "0", "abc", ",4", "-2"):
            with self.subTest(value=value):
                threads, cores = threads_under(value)
                self.assertEqual(threads, cores)


class UsableCores(unittest.TestCase):
    def test_without_affinity_calls_the_machines_count_decides_and_none_is_one(self):
        for cpu_count, expected in ((7, 7), (None, 1)):
            with self.subTest(cpu_count=cpu_count):
                # an os without process_cpu_count and sched_getaffinity (macOS before Python 3.13)
                with mock.patch.object(_parallel, "os", types.SimpleNamespace(cpu_count=lambda: cpu_count)):
                    self.assertEqual(usable_cores(), expected)


class ThreadCount(unittest.TestCase):
    def setUp(self):
        self.addCleanup(set_thread_count, thread_count())

    def test_counts_below_one_mean_one_thread(self):
        for count in (0, -3):
            with self.subTest(count=count):
                set_thread_count(count)
                self.assertEqual(thread_count(), 1)
                out = Conv2D(2, 3, kernel_size=3, padding=1).forward(np.ones((2, 2, 5, 5)))
                self.assertEqual(out.shape, (2, 3, 5, 5))

    def test_the_pool_grows_with_a_new_thread_count(self):
        set_thread_count(1)
        in_parts(lambda part: None, 2, 2)  # makes a one-thread pool
        # more parts than any earlier pool had threads, each waiting for all the others: all must run at once
        threads = max(4, usable_cores()) + 1
        set_thread_count(threads)
        barrier = threading.Barrier(threads, timeout=5)
        in_parts(lambda part: barrier.wait(), threads, threads)


class InParts(unittest.TestCase):
    def setUp(self):
        self.addCleanup(set_thread_count, thread_count())

    def slices_given(self, call):
        """The (start, stop) of each slice that call(work) hands to work, sorted."""
        given = []
        call(lambda part: given.append((part.start, part.stop)))
        return sorted(given)

    def test_an_exception_in_a_worker_reaches_the_caller(self):
        set_thread_count(2)
        def work(part):
            if part.start > 0:
                raise ValueError("part failed")
        with self.assertRaisesRegex(ValueError, "part failed"):
            in_parts(work, 4, 2)

    def test_no_more_parts_than_samples_and_none_empty(self):
        self.assertEqual(self.slices_given(lambda work: in_parts(work, 2, 5)), [(0, 1), (1, 2)])

    def test_over_samples_gives_each_thread_enough_elements(self):
        set_thread_count(4)
        per_thread = _parallel.MIN_ELEMENTS_PER_THREAD
        for elements, parts in ((per_thread - 1, 1), (2 * per_thread, 2), (3 * per_thread - 1, 2),
                                (100 * per_thread, 4)):
            with self.subTest(elements=elements):
                given = self.slices_given(lambda work: over_samples(work, 8, elements))
                self.assertEqual(len(given), parts)
                self.assertEqual((given[0][0], given[-1][1]), (0, 8))


if __name__ == "__main__":
    unittest.main()
