#!/usr/bin/env bash
# Fetch CIFAR-10 into this folder. Local archive: CIFAR10_ARCHIVE=path [CIFAR10_MD5=sum] sh get_data.sh
cd "$(dirname "$0")" || exit 1
PY=python3; command -v "$PY" >/dev/null 2>&1 || PY=python
exec "$PY" fetch_cifar10.py
