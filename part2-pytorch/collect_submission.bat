@echo off
rem Zip the part-2 submission (the file list is in collect_submission.py). Usage: collect_submission.bat [ZIP]
rem pushd/popd inside setlocal: the caller's shell stays in its folder and keeps its variables.
setlocal
pushd "%~dp0" || exit /b 1
python collect_submission.py %*
set "STATUS=%ERRORLEVEL%"
popd
exit /b %STATUS%
