@echo off
rem Fetch CIFAR-10 into this folder. Local archive: set CIFAR10_ARCHIVE=path (and CIFAR10_MD5=sum)
rem Runs fetch_cifar10.py where it lies without changing folder, so a relative CIFAR10_ARCHIVE is taken from
rem the folder this script is called from; setlocal keeps the caller's environment as it was.
rem Python: the kit's .venv, else the py launcher (python.org installs), else python on PATH.
setlocal
set PY="%~dp0..\..\.venv\Scripts\python.exe"
if not exist %PY% (
  where py >nul 2>nul && (set PY=py -3) || (set PY=python)
)
rem Python 3.8 or newer: an older one (py -3 may find 3.6) fails the hand-in halfway
%PY% -c "import sys; sys.exit(sys.version_info < (3, 8))" >nul 2>nul || (
  echo %~nx0: error: no Python 3.8 or newer found, tried %PY%; install one from python.org 1>&2
  exit /b 2
)
%PY% "%~dp0fetch_cifar10.py" %*
exit /b %ERRORLEVEL%
