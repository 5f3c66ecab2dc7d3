@echo off
rem Fetch CIFAR-10 into this folder. Local archive: set CIFAR10_ARCHIVE=path (and CIFAR10_MD5=sum)
rem Runs fetch_cifar10.py where it lies without changing folder, so a relative CIFAR10_ARCHIVE is taken from
rem the folder this script is called from; setlocal keeps the caller's environment as it was.
setlocal
python "%~dp0fetch_cifar10.py"
exit /b %ERRORLEVEL%
