"""Every part-1 script answers --help without running: nothing trained, timed, fetched or written."""
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
        for script in ("train.py", "bench.py", "data/fetch_cifar10.py"):
            with self.subTest(script=script):
                result = subprocess.run([sys.executable, os.path.join(PART1, script), "--help"], cwd=PART1,
                                        env=environment, capture_output=True, text=True, timeout=120)
                self.assertEqual((result.returncode, result.stderr), (0, ""))
                self.assertTrue(result.stdout.startswith("usage: "), result.stdout)
        self.assertEqual(snapshot(), before)


if __name__ == "__main__":
    unittest.main()
