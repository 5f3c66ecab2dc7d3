#!/usr/bin/env sh
# Zip what part 1 is graded on into assignment_2_part1_submission.zip beside this script; collect_submission.py
# holds the file list and writes the zip atomically. Usage: sh collect_submission.sh (from any folder)
# python3, else python: the first that runs as Python 3.8 or newer (on Windows python3 may be the Store's
# placeholder, which does not run; an old system's python may be Python 2)
for PY in python3 python; do
    "$PY" -c "import sys; sys.exit(sys.version_info < (3, 8))" >/dev/null 2>&1 && break
    PY=
done
if [ -z "$PY" ]; then
    echo "$(basename "$0"): error: neither python3 nor python here runs as Python 3.8 or newer; install Python" \
        "3.8 or newer, or activate the repository's .venv" >&2
    exit 2
fi
exec "$PY" "$(dirname "$0")/collect_submission.py" "$@"
