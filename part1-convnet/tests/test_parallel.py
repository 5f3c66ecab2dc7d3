import os
import subprocess
import sys
import unittest

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

    def test_unset_empty_or_unparseable_values_fall_back_to_the_core_count(self):
        for value in ("", "0", "abc", ",4", "-2"):
            with self.subTest(value=value):
                threads, cores = threads_under(value)
                self.assertEqual(threads, cores)


if __name__ == "__main__":
    unittest.main()
