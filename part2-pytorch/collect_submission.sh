#!/usr/bin/env sh
# Zip the part-2 submission (the file list is in collect_submission.py). Usage: sh collect_submission.sh [ZIP]
# A ZIP given is taken from the folder you run this in; the default, part2_submission.zip, goes beside this script.
PY=python3; command -v "$PY" >/dev/null 2>&1 || PY=python
exec "$PY" "$(dirname "$0")/collect_submission.py" "$@"
