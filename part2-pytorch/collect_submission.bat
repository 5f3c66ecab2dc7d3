@echo off
rem Zip the part-2 submission (the file list is in collect_submission.py). Usage: collect_submission.bat [ZIP]
rem A ZIP given is taken from the folder you run this in; the default, part2_submission.zip, goes beside this file.
rem Python: the first of the kit's .venv, the py launcher (python.org installs) and python on PATH that is
rem 3.8 or newer (py -3 may find an old 3.6 beside a new python on PATH)
setlocal
set PY="%~dp0..\.venv\Scripts\python.exe"
if exist %PY% call :recent && goto run
set PY=py -3
call :recent && goto run
set PY=python
call :recent && goto run
echo %~nx0: error: no Python 3.8 or newer in the kit's .venv, py -3 or python; install one from python.org 1>&2
exit /b 2

:run
%PY% "%~dp0collect_submission.py" %*
exit /b %ERRORLEVEL%

:recent
%PY% -c "import sys; sys.exit(sys.version_info < (3, 8))" >nul 2>nul
exit /b %ERRORLEVEL%
