"""Zip the part-2 hand-in: python collect_submission.py [ZIP]   (default ZIP: part2_submission.zip)

The kit asks for configs/ losses/ checkpoints/ models/ main.py; the modules main.py imports come too, and the
data package's code (no dataset, archive or other file), so that the unpacked zip runs. Python's zipfile: no
`zip` program needed.
A ZIP given is taken from the folder you run this in, as any command takes a file name; the default goes to this
folder. The zip is written atomically, and only over an earlier zip: a mistyped name never replaces another file.
"""
import os
import sys
import zipfile

import cli
import files

FOLDERS = ("configs", "losses", "checkpoints", "models", "data")
FILES = ("main.py", "cli.py", "config.py", "config_kinds.py", "config_yaml.py", "checkpointing.py", "device.py",
         "distributed.py", "files.py", "metrics.py", "progress.py", "run_state.py", "runlog.py", "training.py")
DEFAULT_ZIP = "part2_submission.zip"
LEFTOVER_AGE_S = 3600  # a zip takes seconds: a temporary file an hour old is no live run's
SKIPPED_FOLDERS = {"__pycache__", "cifar-10-batches-py"}  # byte code, and 180 MB of images
CODE_ONLY = {"data": (".py", ".sh", ".bat")}  # the package and its fetch scripts, not a stray archive or copy


def _wanted(name):
    return not name.startswith(".") and not name.endswith((".pyc", ".tmp", ".lock"))  # hidden, temporary, locks


def _utf8(name):
    try:
        name.encode("utf-8")  # a name of other bytes arrives as lone surrogates (os.fsdecode)
        return True
    except UnicodeEncodeError:
        return False


def _is_special(path):
    """A pipe, socket or device: zipping a pipe would wait for a writer (a link to nothing stays: it is reported)."""
    return os.path.exists(path) and not os.path.isfile(path)


def submission_files(root="."):
    """Paths relative to `root` of every file the zip holds."""
    paths = list(FILES)
    for folder in FOLDERS:
        seen = set()  # folders walked: a link back to one of them is not walked again
        for parent, subfolders, names in os.walk(os.path.join(root, folder), followlinks=True):  # links' files too
            seen.add(os.path.realpath(parent))
            subfolders[:] = sorted(name for name in subfolders if name not in SKIPPED_FOLDERS and _wanted(name)
                                   and os.path.realpath(os.path.join(parent, name)) not in seen)
            relative = os.path.relpath(parent, root)
            paths += [os.path.join(relative, name) for name in sorted(names)
                      if _wanted(name) and name.endswith(CODE_ONLY.get(folder, ""))
                      and not _is_special(os.path.join(parent, name))]
    return paths


# torch.save's format before zip files (_use_new_zipfile_serialization=False): a pickle of this magic number first
LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"


def damaged_checkpoint(paths):
    """The first checkpoints/*.pth among `paths` that is not a whole torch.save file (a zip archive whose every
    member passes its CRC, or the older pickle format): a copy cut short, say. None when all are whole."""
    for path in paths:
        if path.startswith("checkpoints" + os.sep) and path.endswith(".pth"):
            try:
                with open(path, "rb") as f:
                    if f.read(len(LEGACY_TORCH_MAGIC)) == LEGACY_TORCH_MAGIC:
                        continue
                with zipfile.ZipFile(path) as archive:
                    if archive.testzip() is None:
                        continue
            except OSError:
                continue  # zipped a moment ago: not a question of its contents
            except (zipfile.BadZipFile, EOFError, ValueError):
                pass
            return path
    return None


def is_part2_submission(path):
    """Whether the zip at `path` is an earlier part-2 submission, which a new one may replace."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return "main.py" in names and any(name.startswith("configs/") for name in names)


def target_problem(target):
    """Why the zip cannot go to `target` (None when it can): a name that is no zip's, a folder, another kind of
    file that it would replace, or a folder that does not exist."""
    if not target.lower().endswith(".zip"):
        return f"{target}: the submission is a zip; give a name ending in .zip"
    if os.path.isdir(target):
        return f"{target} is a folder; give the zip's file name"
    if os.path.exists(target) and not zipfile.is_zipfile(target):
        return f"{target} exists and is not a zip; it is left as it is: give another name"
    if os.path.exists(target) and not is_part2_submission(target):
        return f"{target} is another zip (it holds no main.py and configs/); it is left as it is: give another name"
    if not os.path.isdir(os.path.dirname(os.path.abspath(target))):
        return f"{target}: folder {os.path.dirname(target)} does not exist"
    return None


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = cli.CommandLineParser(prog="collect_submission.py", description=(__doc__ or "").partition("\n\n")[0])
    parser.add_argument("zip", nargs="?", default=None, type=cli.path_argument("the zip's file name"),
                        help=f"the zip to write (default: {DEFAULT_ZIP} in {os.path.basename(here)}/)")
    target = parser.parse_args().zip or os.path.join(here, DEFAULT_ZIP)
    problem = target_problem(target)
    if problem:
        print(cli.error_line("collect_submission.py", problem), file=sys.stderr)
        return 2
    shown, target = target, os.path.abspath(target)  # the caller's name for it, then the files from this folder
    os.chdir(here)
    paths = [path for path in submission_files() if os.path.abspath(path) != target]
    unnamable = next((path for path in paths if not _utf8(path)), None)
    if unnamable:  # zipfile would stop halfway with a traceback (error_line writes the bad bytes as escapes)
        message = f"{unnamable}: a file name that is not UTF-8 cannot go in a zip; rename the file"
        print(cli.error_line("collect_submission.py", message), file=sys.stderr)
        return 2

    def write(f):
        # strict_timestamps=False: a file dated before 1980 (a zip's first date) is stored as 1980, not refused
        with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED, strict_timestamps=False) as archive:
            for path in paths:
                archive.write(path)
    try:
        files.remove_leftovers(target, older_than=LEFTOVER_AGE_S)  # of a run killed by SIGKILL or a power cut
        files.write_atomically(target, write)
    except OSError as error:  # a source that cannot be read, or a zip that cannot be written
        failed = shown if error.filename in (None, target) else error.filename
        verb = "write" if failed == shown else "read"
        message = f"cannot {verb} {failed}: {error.strerror or error}; {shown} is unchanged"
        print(cli.error_line("collect_submission.py", message), file=sys.stderr)
        return 2
    try:
        print(f"wrote {shown} ({len(paths)} files)")
        if not any(path.startswith("checkpoints" + os.sep) and path.endswith(".pth") for path in paths):
            print("note: checkpoints/ holds no .pth file: the zip has no trained weights to grade")
        damaged = damaged_checkpoint(paths)
        if damaged:  # zipped as it is (the hand-in is the user's), but graders would fail to load it
            print(f"note: {damaged} is not a whole torch.save file (cut short or corrupted): graders could not "
                  f"load it; train again, or copy it anew, then collect again")
        sys.stdout.flush()
    except cli.ConsoleError as error:  # a full disk under `> log`: the zip is whole, only this line is lost
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python flushes stdout again at exit
        print(cli.error_line("collect_submission.py", f"{shown} is written, but standard output is not "
                                                      f"({error.strerror})"), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    with files.sigterm_as_interrupt():  # `kill` waits for the zip being written, as Ctrl-C does: no partial file left
        sys.exit(cli.quiet_when_the_pipe_closes(main))
