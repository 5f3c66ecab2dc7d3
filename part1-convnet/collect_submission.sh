#!/usr/bin/env sh
# Zip what part 1 is graded on into assignment_2_part1_submission.zip beside this script; collect_submission.py
# holds the file list and writes the zip atomically. Usage: sh collect_submission.sh (from any folder)
PY=python3; command -v "$PY" >/dev/null 2>&1 || PY=python
if ! command -v "$PY" >/dev/null 2>&1; then
    echo "collect_submission.sh: error: neither python3 nor python is on PATH;" \
        "install Python 3 or activate the repository's .venv" >&2
    exit 2
fi
exec "$PY" "$(dirname "$0")/collect_submission.py" "$@"
