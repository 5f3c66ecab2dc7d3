@echo off
rem Zip the part-2 submission (the file list is in collect_submission.py). Usage: collect_submission.bat [ZIP]
cd /d "%~dp0"
python collect_submission.py %*
exit /b %ERRORLEVEL%
