@echo off
rem Zip the part-2 submission (the file list is in collect_submission.py). Usage: collect_submission.bat [ZIP]
rem A ZIP given is taken from the folder you run this in; the default, part2_submission.zip, goes beside this file.
python "%~dp0collect_submission.py" %*
exit /b %ERRORLEVEL%
