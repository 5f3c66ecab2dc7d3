@echo off
rem Zip the part-2 submission (the file list is in collect_submission.py). Usage: collect_submission.bat [ZIP]
rem A ZIP given is taken from the folder you run this in; the default, part2_submission.zip, goes beside this file.
rem Python: the kit's .venv, else the py launcher (python.org installs), else python on PATH.
setlocal
set PY="%~dp0..\.venv\Scripts\python.exe"
if not exist %PY% (
  where py >nul 2>nul && (set PY=py -3) || (set PY=python)
)
rem Python 3.8 or newer: an older one (py -3 may find 3.6) fails the hand-in halfway
%PY% -c "import sys; sys.exit(sys.version_info < (3, 8))" >nul 2>nul || (
  echo %~nx0: error: no Python 3.8 or newer found, tried %PY%; install one from python.org 1>&2
  exit /b 2
)
%PY% "%~dp0collect_submission.py" %*
exit /b %ERRORLEVEL%
