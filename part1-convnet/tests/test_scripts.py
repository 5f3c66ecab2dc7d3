"""Every part-1 script answers --help without running (nothing trained, timed, fetched or written), and bench.py
refuses bad counts in one line."""
import os
import subprocess
import sys
import unittest

PART1 = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class HelpOnly(unittest.TestCase):
    def test_every_script_answers_help_and_runs_nothing(self):
        def snapshot():
            return {os.path.join(folder, name): os.stat(os.path.join(folder, name)).st_mtime_ns
                    for folder, _, names in os.walk(PART1) for name in names if "__pycache__" not in folder}
        before = snapshot()
        environment = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        for script in ("train.py", "bench.py", "data/fetch_cifar10.py", "collect_submission.py"):
            with self.subTest(script=script):
                result = subprocess.run([sys.executable, os.path.join(PART1, script), "--help"], cwd=PART1,
                                        env=environment, capture_output=True, text=True, timeout=120)
                self.assertEqual((result.returncode, result.stderr), (0, ""))
                self.assertTrue(result.stdout.startswith("usage: "), result.stdout)
        self.assertEqual(snapshot(), before)


class ClosedPipe(unittest.TestCase):
    def test_bench_with_its_reader_gone_ends_quietly(self):
        process = subprocess.Popen([sys.executable, os.path.join(PART1, "bench.py"), "--repeats", "1"], cwd=PART1,
                                   env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        process.stdout.close()  # as `| head -0` does: the first line meets a closed pipe
        err = process.stderr.read()
        process.stderr.close()
        self.assertEqual((process.wait(timeout=300), err), (1, ""))


class BadCounts(unittest.TestCase):
    def test_bench_refuses_a_bad_count_in_one_line_before_timing_anything(self):
        for flag, text in (("--repeats", "0"), ("--threads", "-1"), ("--repeats", "x")):
            with self.subTest(flag=flag, text=text):
                result = subprocess.run([sys.executable, os.path.join(PART1, "bench.py"), flag, text], cwd=PART1,
                                        env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"), capture_output=True,
                                        text=True, timeout=120)
                self.assertEqual((result.returncode, result.stdout), (2, ""))
                self.assertEqual(result.stderr, f"bench.py: error: argument {flag}: {text!r} is not an integer "
                                                f"at least 1\n")


if __name__ == "__main__":
    unittest.main()
