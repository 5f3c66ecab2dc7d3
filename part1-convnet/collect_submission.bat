@echo off
rem Zip what part 1 is graded on into assignment_2_part1_submission.zip beside this file; collect_submission.py
rem holds the file list and writes the zip atomically. Usage: collect_submission.bat (from any folder)
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
