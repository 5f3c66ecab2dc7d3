#!/usr/bin/env bash
# Fetch CIFAR-10 into this folder. Local archive: CIFAR10_ARCHIVE=path [CIFAR10_MD5=sum] sh get_data.sh
# Runs fetch_cifar10.py where it lies without changing folder, so a relative CIFAR10_ARCHIVE is taken from the
# folder this script is called from.
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
exec "$PY" "$(dirname "$0")/fetch_cifar10.py" "$@"
