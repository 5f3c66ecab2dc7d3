@echo off
rem Zip what part 1 is graded on (run from part1-convnet).
rem pushd/popd inside setlocal: the caller's shell stays in its folder and keeps its variables.
setlocal
pushd "%~dp0" || exit /b 1
python -c "import os,zipfile;z=zipfile.ZipFile('assignment_2_part1_submission.zip','w',zipfile.ZIP_DEFLATED);[z.write(os.path.join(r,f)) for p in ('modules','optimizer') for r,d,fs in os.walk(p) if '__pycache__' not in r for f in fs];z.write('trainer.py');z.write('train.py');z.close();print('wrote assignment_2_part1_submission.zip')"
set "STATUS=%ERRORLEVEL%"
popd
exit /b %STATUS%
