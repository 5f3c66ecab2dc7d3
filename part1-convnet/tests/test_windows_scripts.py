"""The .bat files, read as text: no Windows here to run them. Each finds Python as the README's setup leaves it
(the repository's .venv), else through the py launcher, else on PATH, and keeps CRLF line endings (cmd.exe
misreads labels and long lines in a file with bare LF)."""
import os
import re
import unittest

PART1 = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPOSITORY = os.path.dirname(PART1)
SCRIPTS = {"data/get_data.bat": '%PYTHON% "%~dp0fetch_cifar10.py"'}  # .bat -> how it runs its Python script


def read(script):
    with open(os.path.join(PART1, script), "rb") as f:
        return f.read()


class BatchFiles(unittest.TestCase):
    def test_crlf_line_endings_only(self):
        for script in SCRIPTS:
            with self.subTest(script=script):
                content = read(script)
                self.assertTrue(content.endswith(b"\r\n"))
                self.assertEqual(content.count(b"\n"), content.count(b"\r\n"), "a line ends in a bare LF")
                self.assertEqual(content.count(b"\r"), content.count(b"\r\n"), "a line ends in a bare CR")

    def test_python_is_the_venv_then_py_launcher_then_path(self):
        for script, run_line in SCRIPTS.items():
            with self.subTest(script=script):
                lines = read(script).decode("ascii").splitlines()
                commands = [line for line in lines if not line.lower().startswith(("rem", "@echo", "echo"))]
                candidates = [line.split("=", 1)[1] for line in commands if line.startswith("set PYTHON=")]
                venv = re.fullmatch(r'"%~dp0(.*)\\Scripts\\python\.exe"', candidates[0])
                self.assertIsNotNone(venv, candidates)
                folder = os.path.dirname(os.path.join(PART1, script))
                self.assertEqual(os.path.normpath(os.path.join(folder, venv.group(1).replace("\\", os.sep))),
                                 os.path.join(REPOSITORY, ".venv"))
                self.assertEqual(candidates[1:], ["py -3", "python"])
                # each fallback is tried before it is used, and only %PYTHON% runs the script
                self.assertIn('py -3 -c "" >nul 2>&1 && goto run', commands)
                self.assertIn('python -c "" >nul 2>&1 && goto run', commands)
                self.assertIn(run_line, commands)
                self.assertFalse([line for line in commands if "(" in line and line.startswith("if")],
                                 "a parenthesised block breaks when the folder's name holds a ')'")


if __name__ == "__main__":
    unittest.main()
