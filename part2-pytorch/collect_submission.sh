#!/usr/bin/env sh
# Zip the part-2 submission (the file list is in collect_submission.py). Usage: sh collect_submission.sh [ZIP]
# A ZIP given is taken from the folder you run this in; the default, part2_submission.zip, goes beside this script.
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
