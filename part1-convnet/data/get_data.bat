@echo off
rem Fetch CIFAR-10 into this folder. Local archive: set CIFAR10_ARCHIVE=path (and CIFAR10_MD5=sum)
rem Runs fetch_cifar10.py where it lies without changing folder, so a relative CIFAR10_ARCHIVE is taken from
rem the folder this script is called from; setlocal keeps the caller's environment as it was.
rem Python: the repository's .venv, else the py launcher's Python 3, else python on PATH. No parenthesised
rem blocks: a ")" in this script's folder (C:\Program Files (x86)\...) would end them early.
setlocal
set PYTHON="%~dp0..\..\.venv\Scripts\python.exe"
if exist %PYTHON% goto run
set PYTHON=py -3
py -3 -c "" >nul 2>&1 && goto run
set PYTHON=python
python -c "" >nul 2>&1 && goto run
echo get_data.bat: error: no Python 3 found; create the repository's .venv (see README.md) or install Python 3 1>&2
exit /b 2
:run
%PYTHON% "%~dp0fetch_cifar10.py"
exit /b %ERRORLEVEL%
