#!/usr/bin/env bash
# Fetch CIFAR-10 into this folder. Local archive: CIFAR10_ARCHIVE=path [CIFAR10_MD5=sum] sh get_data.sh
# Runs fetch_cifar10.py where it lies without changing folder, so a relative CIFAR10_ARCHIVE is taken from the
# folder this script is called from.
PY=python3; command -v "$PY" >/dev/null 2>&1 || PY=python
exec "$PY" "$(dirname "$0")/fetch_cifar10.py" "$@"
