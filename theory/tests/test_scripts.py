"""The theory scripts answer --help without computing or writing anything."""
import os
import subprocess
import sys
import unittest

THEORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class HelpOnly(unittest.TestCase):
    def test_help_runs_nothing(self):
        figure = os.path.join(THEORY, "relu_pieces.png")
        before = os.stat(figure).st_mtime_ns
        for script in ("conv_as_matrix.py", "relu_pieces.py"):
            with self.subTest(script=script):
                result = subprocess.run([sys.executable, os.path.join(THEORY, script), "--help"], cwd=THEORY,
                                        capture_output=True, text=True, timeout=120)
                self.assertEqual((result.returncode, result.stderr), (0, ""))
                self.assertTrue(result.stdout.startswith("usage: "), result.stdout)
                self.assertNotIn("W=", result.stdout)  # no answer was computed
        self.assertEqual(os.stat(figure).st_mtime_ns, before)


if __name__ == "__main__":
    unittest.main()
