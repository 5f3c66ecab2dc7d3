"""The .bat files, read as text: there is no cmd.exe here to run them. Each finds Python as the README's setup
leaves it (the repository's .venv), else through the py launcher, else on PATH, and keeps CRLF line endings."""
import os
import re
import unittest

PART1 = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPOSITORY = os.path.dirname(PART1)
# each .bat, and how it runs its Python script
RUN_LINES = {"data/get_data.bat": '%PY% "%~dp0fetch_cifar10.py" %*',
             "collect_submission.bat": '%PY% "%~dp0collect_submission.py" %*'}


def read(script):
    with open(os.path.join(PART1, script), "rb") as f:
        return f.read()


class BatchFiles(unittest.TestCase):
    def test_crlf_line_endings_only(self):
        for script in RUN_LINES:
            with self.subTest(script=script):
                content = read(script)
                self.assertTrue(content.endswith(b"\r\n"))
                self.assertEqual(content.count(b"\n"), content.count(b"\r\n"), "a line ends in a bare LF")
                self.assertEqual(content.count(b"\r"), content.count(b"\r\n"), "a line ends in a bare CR")

    def test_python_is_the_venv_then_the_py_launcher_then_path(self):
        for script, run_line in RUN_LINES.items():
            with self.subTest(script=script):
                lines = read(script).decode("ascii").splitlines()
                commands = "\n".join(line for line in lines if not line.lower().startswith(("rem", "@echo")))
                candidates = re.findall(r"set PY=([^)\n]*)", commands)
                self.assertEqual(candidates[1:], ["py -3", "python"])
                venv = re.fullmatch(r'"%~dp0(.*)\\Scripts\\python\.exe"', candidates[0])
                self.assertIsNotNone(venv, candidates)
                folder = os.path.dirname(os.path.join(PART1, script))
                self.assertEqual(os.path.normpath(os.path.join(folder, venv.group(1).replace("\\", os.sep))),
                                 os.path.join(REPOSITORY, ".venv"))
                self.assertIn("if not exist %PY% (", commands)  # the fallbacks only where there is no venv
                self.assertIn(run_line, lines)
                self.assertNotRegex(commands, r"(?m)^python ", "a bare python call")

    def test_a_python_older_than_3_8_is_one_line_and_status_2_before_the_script_runs(self):
        probe = '%PY% -c "import sys; sys.exit(sys.version_info < (3, 8))" >nul 2>nul || ('
        for script, run_line in RUN_LINES.items():
            with self.subTest(script=script):
                lines = read(script).decode("ascii").splitlines()
                start = lines.index(probe)  # after the last `set PY=`, before the script runs
                self.assertLess(max(i for i, line in enumerate(lines) if "set PY=" in line), start)
                self.assertEqual(lines[start + 1:start + 4],
                                 ["  echo %~nx0: error: no Python 3.8 or newer found, tried %PY%; install one from "
                                  "python.org 1>&2", "  exit /b 2", ")"])
                self.assertLess(start, lines.index(run_line))


if __name__ == "__main__":
    unittest.main()
