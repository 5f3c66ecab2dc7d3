"""The results CSVs of the long-tailed grids: one row a finished run, in results/longtail.csv and the files of its
shards beside it. A file is read whole or not at all (a value its column cannot hold is a ResultsError naming file,
row and column), and written atomically under its folder's lock, so that workers never lose each other's rows."""
import contextlib
import csv
import io
import os
import re
import sys
import threading
from dataclasses import dataclass

import config
import files
from grids import CLASS_COLUMNS, COLUMNS, row_key

LOCK_NAME = ".experiments.lock"

REQUIRED_COLUMNS = [column for column in COLUMNS if column != "overrides"]  # older CSVs lack it: no overrides


# Rows. What each value may hold: a row is checked before anything reads it as a number.

@dataclass(frozen=True)
class Pattern:
    """A CSV value that must match `regex` in full (config's kinds for the rest)."""
    regex: str
    allowed: str

    def parse(self, text):
        if not re.fullmatch(self.regex, text):
            raise ValueError
        return text


FRACTION = config.Number(0, 1, high_included=True)
COLUMN_KINDS = {  # what each column of a results CSV may hold; `overrides` is free text
    "grid": Pattern(r"[A-Za-z0-9][\w.-]*", "a grid name (letters, digits, '_', '.', '-')"),  # it names files
    "model": config.Text(),
    **{key: config.SETTINGS[key].kind for key in ("imb_type", "loss_type", "beta", "gamma")},
    # as config.py allows, where every class keeps an image (5e-324 passed (0, 1] and broke the plots' 1/factor)
    "imb_factor": config.Number(1 / config.IMAGES_PER_CLASS, 1, high_included=True),
    "reweight": Pattern(r"(?i)true|false", "True or False"),
    "seed": Pattern(r"\d{1,18}", "an integer >= 0 of at most 18 digits"),
    "epochs": Pattern(r"0*[1-9]\d{0,8}", "an integer from 1 to 999,999,999"),  # Python's int() takes 4,300 digits
    **{column: FRACTION for column in ["test_acc"] + CLASS_COLUMNS},
    "seconds": config.Number(0),
}


def row_problem(row):
    """(column, value, what is allowed) of the first value of a CSV row (text) that its column cannot hold, or
    None: a blank, 'x' or an imbalance factor of 0 read as a number would fail later, or be plotted."""
    for column, kind in COLUMN_KINDS.items():
        text = "" if row.get(column) is None else row[column]  # None: a row shorter than the header
        try:
            kind.parse(text)
        except (ValueError, TypeError):
            return column, text, kind.allowed
    return None


# Files. Every file in a results folder is written under that folder's lock, into a temp file renamed over the
# target; whoever takes the lock next removes the temp files a killed writer left.

writing_now = threading.Lock()  # held with the folder lock: a worker's watcher never ends the process mid-write


@contextlib.contextmanager
def results_lock(folder):
    """Hold the OS lock of a results folder (the OS releases it if the holder dies); on taking it, remove the
    temp files that writers killed mid-write left there: every writer writes under this lock, so none is live."""
    with writing_now, files.FileLock(os.path.join(folder, LOCK_NAME)):
        files.remove_leftovers(os.path.join(folder, "*"))
        yield


class ResultsError(ValueError):
    """A results CSV that cannot be read whole; the message (one line) names the file, row and column."""


def write_bytes(path, data):
    """Bytes to `path`, atomically (files.write_atomically: an OSError names `path`, not the temporary file).
    Call under results_lock of the folder."""
    files.write_atomically(path, lambda f: f.write(data))


def csv_bytes(rows):
    """The CSV of `rows`: our columns, then any a user added (a spreadsheet's notes), kept."""
    added = [column for column in dict.fromkeys(key for row in rows for key in row) if column not in COLUMNS]
    text = io.StringIO()
    writer = csv.DictWriter(text, COLUMNS + added, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode("utf-8")


def read_rows(path):
    """The rows of the CSV at `path` (none if it does not exist), each checked: ResultsError for a file that
    is not one experiments.py could have written, so that nothing is run or written on a misread. A spreadsheet's
    "CSV UTF-8" starts with a byte-order mark, which utf-8-sig skips. Rows are numbered as in a spreadsheet."""
    if not os.path.exists(path):
        return []
    if not os.path.isfile(path):  # reading a pipe would wait for a writer
        raise ResultsError(f"{path}: not a regular file (a folder, a pipe or a device); give a CSV file's path")
    fix = "correct or delete that row, then run again"
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = [column for column in REQUIRED_COLUMNS if column not in (reader.fieldnames or REQUIRED_COLUMNS)]
            if missing:
                named = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
                raise ResultsError(f"{path}: the header (row 1) lacks the column(s) {named}; expected the "
                                   f"comma-separated header experiments.py writes: {','.join(COLUMNS)}")
            rows = []
            for row in reader:
                if None in row:
                    raise ResultsError(f"{path}: row {reader.line_num} has more values than the header has "
                                       f"columns; {fix}")
                problem = row_problem(row)
                if problem:
                    column, text, allowed = problem
                    raise ResultsError(f"{path}: row {reader.line_num}, column {column} = {config.shown(text)} is "
                                       f"not allowed; expected {allowed}; {fix}")
                rows.append(row)
            return rows
    except UnicodeDecodeError:
        raise ResultsError(f"{path}: not UTF-8 text; save it as CSV UTF-8 (comma-separated)") from None
    except csv.Error as error:
        raise ResultsError(f"{path}: not a readable CSV ({error}); restore it or give another --results") from None


def write_rows(path, rows):
    """Replace the CSV at `path` by `rows`, atomically and under the folder's lock."""
    with results_lock(os.path.dirname(path) or "."):
        write_bytes(path, csv_bytes(rows))


def append_row(path, row):
    """Add one row to the CSV at `path`; the lock keeps two workers from losing each other's rows."""
    with results_lock(os.path.dirname(path) or "."):
        write_bytes(path, csv_bytes(read_rows(path) + [row]))


def shard_path(results, shard):
    stem, extension = os.path.splitext(results)
    return f"{stem}.shard-{shard[0]}-of-{shard[1]}{extension}"


def result_files(results):
    """The CSV `results` and its siblings of other shards: results/longtail.csv -> results/longtail.csv and
    results/longtail.shard-K-of-N.csv (not another CSV whose name merely starts alike)."""
    folder, name = os.path.split(results)
    stem, extension = os.path.splitext(name)
    stem = re.sub(r"\.shard-\d+-of-\d+$", "", stem)
    # Windows and macOS name files case-insensitively by default: there LONGTAIL.csv is longtail.csv
    case = re.IGNORECASE if os.path.normcase("A") == "a" or sys.platform == "darwin" else 0
    shard = re.compile(re.escape(stem) + r"(\.shard-\d+-of-\d+)?" + re.escape(extension), case)
    # names, not paths, are matched: on Windows, glob answers results\longtail.csv for results/longtail.csv
    names = os.listdir(folder or ".") if os.path.isdir(folder or ".") else []
    return sorted(os.path.join(folder, name) for name in names if shard.fullmatch(name))


def read_all(results):
    """The rows of every CSV of result_files(results), each run once (the first row of its key)."""
    rows = {}
    for path in result_files(results):
        for row in read_rows(path):
            rows.setdefault(row_key(row), row)
    return list(rows.values())
