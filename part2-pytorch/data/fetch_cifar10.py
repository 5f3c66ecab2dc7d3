"""Fetch CIFAR-10 (python version) and unpack cifar-10-batches-py/ beside this file.

Called by get_data.sh / get_data.bat. Environment:
  CIFAR10_ARCHIVE=path  use a local archive instead of downloading
  CIFAR10_MD5=sum       the md5 that archive must have (default: the canonical one)
Exit status 0 on success or when the data is already there, 1 on any failure (one line on stderr).
"""
import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.request

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CANONICAL_MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
EXPECTED_FILES = ["batches.meta", "test_batch"] + [f"data_batch_{i}" for i in range(1, 6)]


def md5_of(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def safe_extract(archive, dest):
    """Extract only regular files and folders that land inside dest (no links, no '..', no absolute paths)."""
    dest = os.path.realpath(dest)
    with tarfile.open(archive, "r:gz") as tar:
        members = tar.getmembers()
        for m in members:
            target = os.path.realpath(os.path.join(dest, m.name))
            if not (m.isfile() or m.isdir()) or os.path.commonpath([dest, target]) != dest:
                raise ValueError(f"unsafe entry in archive: {m.name!r}")
        tar.extractall(dest, members=members, filter="data")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    final = os.path.join(here, FOLDER)
    if all(os.path.isfile(os.path.join(final, f)) for f in EXPECTED_FILES):
        print(f"CIFAR-10 already in {final}; nothing to do.")
        return 0
    local = os.environ.get("CIFAR10_ARCHIVE")
    expected_md5 = os.environ.get("CIFAR10_MD5", CANONICAL_MD5).lower()
    work = tempfile.mkdtemp(prefix=".cifar-", dir=here)  # same filesystem, so the final rename is atomic
    try:
        if local:
            archive = local
            if not os.path.isfile(archive):
                raise FileNotFoundError(f"CIFAR10_ARCHIVE={archive} does not exist")
        else:
            archive = os.path.join(work, "cifar-10-python.tar.gz")
            print(f"Downloading {URL} ...")
            try:
                urllib.request.urlretrieve(URL, archive)
            except OSError as e:
                raise ConnectionError(f"download failed ({e}); check the network or set CIFAR10_ARCHIVE=path") from None
        actual = md5_of(archive)
        if actual != expected_md5:
            raise ValueError(f"md5 of {archive} is {actual}, expected {expected_md5}; "
                             "set CIFAR10_MD5 to the sum you expect if this archive is trusted")
        safe_extract(archive, work)
        missing = [f for f in EXPECTED_FILES if not os.path.isfile(os.path.join(work, FOLDER, f))]
        if missing:
            raise ValueError(f"archive lacks {FOLDER}/{missing[0]}; is it the CIFAR-10 python version?")
        if os.path.isdir(final):
            shutil.rmtree(final)  # an incomplete earlier copy
        os.replace(os.path.join(work, FOLDER), final)
    except (OSError, ValueError, tarfile.TarError) as e:
        print(f"get_data: error: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)  # removes the downloaded archive and any partial extraction
    print(f"CIFAR-10 ready in {final}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
