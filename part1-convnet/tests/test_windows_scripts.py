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

    def test_python_is_the_first_recent_one_of_the_venv_the_py_launcher_and_path(self):
        for script, run_line in RUN_LINES.items():
            with self.subTest(script=script):
                lines = read(script).decode("ascii").splitlines()
                commands = [line for line in lines if line and not line.lower().startswith(("rem", "@echo"))]
                candidates = re.findall(r"^set PY=(.*)$", "\n".join(commands), re.M)
                self.assertEqual(candidates[1:], ["py -3", "python"])
                venv = re.fullmatch(r'"%~dp0(.*)\\Scripts\\python\.exe"', candidates[0])
                self.assertIsNotNone(venv, candidates)
                folder = os.path.dirname(os.path.join(PART1, script))
                self.assertEqual(os.path.normpath(os.path.join(folder, venv.group(1).replace("\\", os.sep))),
                                 os.path.join(REPOSITORY, ".venv"))
                # each candidate is tried in turn and taken only if it runs and is recent: the venv where it exists
                tries = [commands[commands.index(f"set PY={candidate}") + 1] for candidate in candidates]
                self.assertEqual(tries, ["if exist %PY% call :recent && goto run"] + ["call :recent && goto run"] * 2)
                self.assertIn(run_line, lines)
                self.assertEqual(lines[lines.index(run_line) - 1:lines.index(run_line) + 2],
                                 [":run", run_line, "exit /b %ERRORLEVEL%"])
                self.assertNotIn("python ", [line[:7] for line in commands], "a bare python call")

    def test_without_a_python_3_8_or_newer_one_line_and_status_2_before_the_script_runs(self):
        probe = '%PY% -c "import sys; sys.exit(sys.version_info < (3, 8))" >nul 2>nul'
        for script, run_line in RUN_LINES.items():
            with self.subTest(script=script):
                lines = read(script).decode("ascii").splitlines()
                last_try = max(i for i, line in enumerate(lines) if line.endswith("call :recent && goto run"))
                self.assertEqual(lines[last_try + 1:last_try + 3],
                                 ["echo %~nx0: error: no Python 3.8 or newer in the kit's .venv, py -3 or python; "
                                  "install one from python.org 1>&2", "exit /b 2"])
                self.assertLess(last_try, lines.index(":run"))
                # the probe is a subroutine after the script's run, which ends the file's main path
                self.assertEqual(lines[lines.index(":recent"):], [":recent", probe, "exit /b %ERRORLEVEL%"])
                self.assertLess(lines.index(run_line), lines.index(":recent"))

if __name__ == "__main__":
    unittest.main()
