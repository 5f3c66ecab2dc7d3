@echo off
rem Fetch CIFAR-10 into this folder. Local archive: set CIFAR10_ARCHIVE=path (and CIFAR10_MD5=sum)
cd /d "%~dp0"
python fetch_cifar10.py
exit /b %ERRORLEVEL%
