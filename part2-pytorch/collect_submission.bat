@echo off
rem Zip the part-2 submission (the file list is in collect_submission.py). Usage: collect_submission.bat [ZIP]
rem A ZIP given is taken from the folder you run this in; the default, part2_submission.zip, goes beside this file.
rem Python: the kit's .venv, else the py launcher (python.org installs), else python on PATH.
setlocal
set PY="%~dp0..\.venv\Scripts\python.exe"
if not exist %PY% (
  where py >nul 2>nul && (set PY=py -3) || (set PY=python)
)
%PY% "%~dp0collect_submission.py" %*
exit /b %ERRORLEVEL%
