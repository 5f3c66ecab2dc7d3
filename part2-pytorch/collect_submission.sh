#!/usr/bin/env sh
# Zip the part-2 submission (the file list is in collect_submission.py). Usage: sh collect_submission.sh [ZIP]
cd "$(dirname "$0")" || exit 1
PY=python3; command -v "$PY" >/dev/null 2>&1 || PY=python
exec "$PY" collect_submission.py "$@"
