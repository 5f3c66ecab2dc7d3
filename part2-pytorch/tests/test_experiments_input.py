"""experiments.py given bad input: a results CSV it cannot read whole, a --results that is no CSV path, a folder
it cannot write, a damaged data folder, a --set that clashes with some run. Each is one line on stderr and exit
status 2 (1 for a run that diverged), and every file already there stays as it was."""
import contextlib
import csv
import io
import ntpath
import os
import sys
import tempfile
import unittest
from unittest import mock

import config
import experiments
import results_csv
import grids
import longtail_plots
from tests.helpers import write_cifar_folder
from tests.test_experiments import fake_row, keys

BOM = b"\xef\xbb\xbf"


def run_cli(*arguments):
    """(exit status, stdout, stderr) of experiments.main_cli in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = experiments.main_cli(list(arguments))
        except SystemExit as exit:  # argparse's errors
            status = exit.code
    return status, out.getvalue(), err.getvalue()


def contents(folder):
    """{relative path: bytes} of every file under `folder` but the lock file: what must not change."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            if name != results_csv.LOCK_NAME:
                with open(os.path.join(root, name), "rb") as f:
                    found[os.path.relpath(os.path.join(root, name), folder)] = f.read()
    return found


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


class InScratchFolder(unittest.TestCase):
    """Each test in its own temporary folder, the current one, so that run folders would land there; the tests'
    grids offered."""

    def setUp(self):
        self.enterContext(mock.patch.dict(os.environ, {grids.TEST_GRIDS_VARIABLE: "1"}))
        temporary = tempfile.TemporaryDirectory()
        self.addCleanup(temporary.cleanup)
        self.tmp = temporary.name
        self.addCleanup(os.chdir, os.getcwd())
        os.chdir(self.tmp)
        self.results = os.path.join(self.tmp, "results", "longtail.csv")
        os.makedirs(os.path.dirname(self.results))

    def assert_one_line(self, status, err, *parts, code=2):
        self.assertEqual(status, code, err)
        self.assertEqual(err.count("\n"), 1, err)
        self.assertTrue(err.startswith("experiments.py: error: "), err)
        self.assertNotIn("Traceback", err)
        for part in parts:
            self.assertIn(part, err)


class SpreadsheetCsv(InScratchFolder):
    """A results CSV saved by a spreadsheet as "CSV UTF-8" starts with a byte-order mark."""

    def setUp(self):
        super().setUp()
        self.runs = grids.grid_runs("resnet32-cpu")
        results_csv.write_rows(self.results, [fake_row(run, 0.5) for run in self.runs[:2]])
        with open(self.results, "rb") as f:
            data = f.read()
        with open(self.results, "wb") as f:
            f.write(BOM + data.replace(b"\n", b"\r\n"))

    def test_its_rows_count_as_done(self):
        self.assertEqual(keys(results_csv.read_rows(self.results)), keys(self.runs[:2]))
        status, out, err = run_cli("--grid", "resnet32-cpu", "--list", "--results", self.results)
        self.assertEqual(status, 0, err)
        self.assertEqual([line.split()[0] for line in out.splitlines()[1:4]], ["done", "done", "todo"])

    def test_an_appended_row_keeps_every_earlier_value(self):
        results_csv.append_row(self.results, fake_row(self.runs[2], 0.6))
        with open(self.results, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(keys(rows), keys(self.runs[:3]))
        self.assertEqual([row["grid"] for row in rows], ["resnet32-cpu"] * 3)

    def test_it_plots(self):
        status, out, err = run_cli("--plot", "--results", self.results)
        self.assertEqual(status, 0, err)
        self.assertIn("longtail_resnet32-cpu_tables.md", out)

    def test_a_spreadsheets_true_is_class_balanced(self):
        focal = next(run for run in self.runs if run["loss_type"] == "Focal")
        row = dict(fake_row(focal, 0.5), reweight="TRUE")
        self.assertEqual(longtail_plots.loss_label(row), "CB-Focal g=1")


class UnreadableCsv(InScratchFolder):
    """A results CSV that does not hold what experiments.py writes is refused, naming the file, row and column,
    before anything is run or written; the file stays byte for byte."""

    def write_bad_row(self, column, value):
        rows = [fake_row(run, 0.5) for run in grids.grid_runs("micro")]
        rows[1][column] = value
        results_csv.write_rows(self.results, rows)

    def assert_refused(self, *parts):
        before = contents(self.tmp)
        for arguments in (["--grid", "micro", "--list"], ["--plot"], ["--grid", "micro", "--workers", "1"]):
            status, out, err = run_cli(*arguments, "--results", self.results)
            self.assert_one_line(status, err, self.results, *parts)
            self.assertNotIn("runs to do", out)
        self.assertEqual(contents(self.tmp), before)  # no run folder, no plot, the CSV as it was
        with self.assertRaises(results_csv.ResultsError):
            results_csv.append_row(self.results, fake_row(grids.grid_runs("cpu")[0], 0.5))
        self.assertEqual(contents(self.tmp), before)

    def test_values_that_are_not_what_the_column_holds(self):
        for column, value in (("imb_factor", ""), ("imb_factor", "0"), ("imb_factor", "-0.1"), ("beta", "x"),
                              ("gamma", "nan"), ("test_acc", "x"), ("class_3", ""), ("seed", "a"),
                              ("epochs", "0"), ("reweight", "maybe"), ("grid", "../elsewhere"), ("seconds", "-1"),
                              ("imb_factor", "5e-324"), ("imb_factor", "0.0001"), ("epochs", "9" * 5000),
                              ("seed", "9" * 5000)):  # each passed once, and broke the plots
            with self.subTest(column=column, value=value):
                self.write_bad_row(column, value)
                self.assert_refused(f"row 3, column {column} = {config.shown(value)}")

    def test_a_header_without_a_key_column(self):
        for missing in ("grid", "imb_factor", "test_acc"):
            with self.subTest(missing=missing):
                columns = [column for column in grids.COLUMNS if column != missing]
                write_csv(self.results, columns, [[fake_row(grids.grid_runs("micro")[0], 0.5)[c] for c in columns]])
                self.assert_refused(f"the header (row 1) lacks the column(s) {missing};")

    def test_semicolons_and_longer_rows(self):
        with open(self.results, "w", encoding="utf-8") as f:
            f.write(";".join(grids.COLUMNS) + "\n")
        self.assert_refused("lacks the column(s) grid, model, imb_type, imb_factor and 18 more")
        run = fake_row(grids.grid_runs("micro")[0], 0.5)
        write_csv(self.results, grids.COLUMNS, [[run[c] for c in grids.COLUMNS] + ["surplus"]])
        self.assert_refused("row 2 has more values than the header has columns")

    def test_a_file_that_is_not_text(self):
        with open(self.results, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
        self.assert_refused("not UTF-8 text")


class CsvFiles(InScratchFolder):
    def test_columns_a_user_added_are_kept(self):
        runs = grids.grid_runs("cpu")
        write_csv(self.results, grids.COLUMNS + ["notes"], [[fake_row(runs[0], 0.5)[c] for c in grids.COLUMNS]
                                                             + ["a good run"]])
        results_csv.append_row(self.results, fake_row(runs[1], 0.6))
        rows = results_csv.read_rows(self.results)
        self.assertEqual(keys(rows), keys(runs[:2]))
        self.assertEqual([row["notes"] for row in rows], ["a good run", ""])

    def test_only_the_shards_are_read_beside_the_results(self):
        folder = os.path.dirname(self.results)
        for name in ("longtail.shard-1-of-2.csv", "longtail_old.csv", "longtail.csv.bak", "longtail_tables.md"):
            open(os.path.join(folder, name), "w").close()
        results_csv.write_rows(self.results, [])
        self.assertEqual([os.path.basename(path) for path in results_csv.result_files(self.results)],
                         ["longtail.csv", "longtail.shard-1-of-2.csv"])


    def test_on_a_case_insensitive_system_the_results_are_found_whatever_case_is_typed(self):
        folder = os.path.dirname(self.results)
        open(os.path.join(folder, "longtail.shard-2-of-2.csv"), "w").close()
        results_csv.write_rows(self.results, [])
        typed = os.path.join(folder, "LongTail.csv")  # the same file on macOS and Windows: finished runs not rerun
        cases = [("darwin", ["longtail.csv", "longtail.shard-2-of-2.csv"])]
        if os.name == "posix":  # Linux's case-sensitive names (on Windows os.path folds case whatever the platform)
            cases.append(("linux", []))
        for platform, found in cases:
            with self.subTest(platform=platform), mock.patch.object(sys, "platform", platform):
                self.assertEqual([os.path.basename(path) for path in results_csv.result_files(typed)], found)
        with mock.patch.object(os, "path", ntpath):  # Windows, whose normcase folds case
            self.assertEqual(len(results_csv.result_files(typed)), 2)

    def test_the_results_are_found_whichever_separator_a_windows_user_types(self):
        # On Windows a path may hold / or \\ and glob answers with \\: matching whole paths found nothing there,
        # and every finished run of a grid ran again. Windows's path rules are simulated with ntpath.
        open(os.path.join(os.path.dirname(self.results), "longtail.shard-2-of-2.csv"), "w").close()
        results_csv.write_rows(self.results, [])
        for typed in ("results/longtail.csv", "results\\longtail.csv", "results\\longtail.shard-1-of-2.csv"):
            with self.subTest(typed=typed), mock.patch.object(os, "path", ntpath):
                found = results_csv.result_files(typed)
                self.assertEqual(found, ["results\\longtail.csv", "results\\longtail.shard-2-of-2.csv"])


class ResultsArgument(InScratchFolder):
    def test_a_folder_or_a_path_that_is_not_a_csv_is_refused(self):
        folder = os.path.dirname(self.results)
        results_csv.write_rows(self.results, [fake_row(run, 0.5) for run in grids.grid_runs("cpu")[:2]])
        for name in ("longtail_class_counts.png", "longtail_tables.md"):
            with open(os.path.join(folder, name), "wb") as f:
                f.write(b"\x89PNG earlier")
        before = contents(self.tmp)
        for given, problem in ((folder, "is a folder"), (folder + os.sep, "is a folder"),
                               (os.path.join(folder, "longtail"), "is not the path of a .csv file"),
                               (os.path.join(folder, ".csv"), "is not the path of a .csv file")):
            for action in (["--plot"], ["--grid", "cpu", "--list"]):
                with self.subTest(given=given, action=action):
                    status, out, err = run_cli(*action, "--results", given)
                    self.assert_one_line(status, err, f"argument --results: {given!r} {problem}",
                                         "results/longtail.csv")
                    self.assertEqual(out, "")
        self.assertEqual(contents(self.tmp), before)

    @unittest.skipUnless(hasattr(os, "mkfifo"), "named pipes are POSIX")
    def test_a_pipe_is_refused_rather_than_waited_on(self):
        folder = os.path.dirname(self.results)
        os.mkfifo(os.path.join(folder, "longtail.csv"))
        os.mkfifo(os.path.join(folder, "other.shard-1-of-2.csv"))
        for action in (["--plot"], ["--grid", "cpu", "--list"]):
            with self.subTest(action=action):
                status, out, err = run_cli(*action, "--results", os.path.join(folder, "longtail.csv"))
                self.assert_one_line(status, err, "is not a regular file (a pipe or a device)")
        with self.assertRaisesRegex(results_csv.ResultsError, "not a regular file"):  # a shard found beside it
            results_csv.read_rows(os.path.join(folder, "other.shard-1-of-2.csv"))


class PlotOutputs(InScratchFolder):
    """An output --plot cannot write is one line naming it (not its temp file); the earlier files stay."""

    def setUp(self):
        super().setUp()
        results_csv.write_rows(self.results, [fake_row(run, 0.5) for run in grids.grid_runs("resnet32-cpu")])
        self.folder = os.path.dirname(self.results)

    def test_a_folder_where_an_output_goes(self):
        os.mkdir(os.path.join(self.folder, "longtail_resnet32-cpu_losses.png"))
        before = contents(self.tmp)
        status, out, err = run_cli("--plot", "--results", self.results)
        self.assert_one_line(status, err, os.path.join(self.folder, "longtail_resnet32-cpu_losses.png: "))
        self.assertNotIn(".tmp", err)
        written = {name: data for name, data in contents(self.tmp).items() if name not in before}
        for name, data in written.items():  # the figures drawn before it, each whole
            self.assertTrue(name.endswith(".png") and data.startswith(b"\x89PNG") and data.endswith(b"IEND\xaeB`\x82"),
                            name)
        self.assertEqual({name: data for name, data in contents(self.tmp).items() if name in before}, before)

    def test_a_folder_that_takes_no_new_file(self):
        with open(os.path.join(self.folder, "longtail_resnet32-cpu_class_counts.png"), "wb") as f:
            f.write(b"earlier figure")
        before = contents(self.tmp)
        if os.name != "nt" and os.geteuid() != 0:  # permissions bind: the real thing
            os.chmod(self.folder, 0o555)
            self.addCleanup(os.chmod, self.folder, 0o755)
            status, out, err = run_cli("--plot", "--results", self.results)
        else:  # root (and Windows) writes anywhere: the rename refused as a read-only folder refuses it
            def refuse(source, target):
                raise PermissionError(13, "Permission denied", source, target)
            with mock.patch("files.os.replace", side_effect=refuse):
                status, out, err = run_cli("--plot", "--results", self.results)
        self.assert_one_line(status, err, "longtail_resnet32-cpu_class_counts.png: Permission denied")
        self.assertNotIn(".tmp", err)
        self.assertEqual(contents(self.tmp), before)


class DamagedData(InScratchFolder):
    def setUp(self):
        super().setUp()
        self.data = write_cifar_folder(self.tmp)[0]
        test_batch = os.path.join(self.data, "test_batch")
        with open(test_batch, "rb") as f:
            data = f.read()
        with open(test_batch, "wb") as f:
            f.write(data[:len(data) // 2])  # cut short, as by a full disk

    def test_is_found_before_any_worker_starts(self):
        status, out, err = run_cli("--grid", "micro", "--workers", "1", "--data-dir", self.data,
                                   "--results", self.results)
        self.assert_one_line(status, err, os.path.join(self.data, "test_batch"), "get_data.sh")
        self.assertFalse(os.path.exists(self.results))
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "runs")))

    def test_an_empty_data_dir_is_refused_not_taken_for_the_configs(self):
        for empty in ("", "  "):  # an unset shell variable: the grid would start on the config's data_dir
            with self.subTest(data_dir=empty):
                status, out, err = run_cli("--grid", "micro", "--workers", "1", "--data-dir", empty,
                                           "--results", self.results)
                self.assert_one_line(status, err, "--data-dir: an empty path")
                self.assertFalse(os.path.exists(self.results))

    def test_found_by_a_worker_is_one_line_too(self):
        with mock.patch.object(experiments, "check_data"):  # as if damaged after the check
            status, out, err = run_cli("--grid", "micro", "--workers", "1", "--data-dir", self.data,
                                       "--results", self.results)
        self.assert_one_line(status, err, os.path.join(self.data, "test_batch"), "get_data.sh")
        self.assertFalse(os.path.exists(self.results))


class SettingsOfEveryRun(InScratchFolder):
    """Every run's complete settings are checked before the first run starts; a clash names the --set."""

    def test_a_set_that_only_some_runs_refuse(self):
        for grid in ("micro", "cpu", "resnet32-cpu-drw"):  # the last one's own config has a focal loss
            with self.subTest(grid=grid), self.assertRaises(config.ConfigError) as caught:
                grids.grid_runs(grid, [("epochs", 2), ("label_smoothing", 0.1)])
            message = str(caught.exception)
            self.assertTrue(message.startswith("command line: --set label_smoothing=0.1 conflicts with the grid's "
                                               "Focal run"), message)
            self.assertIn("is not allowed with loss_type Focal", message)
            self.assertNotIn(".yaml", message)
            self.assertNotIn("epochs=2", message)

    def test_two_sets_that_clash_are_both_named(self):
        with self.assertRaisesRegex(config.ConfigError, r"^command line: --set nesterov=true, --set momentum=0 "
                                                        r"conflict with the grid's CE run"):
            grids.grid_runs("cpu", [("nesterov", True), ("epochs", 2), ("momentum", 0)])

    def test_nothing_runs(self):
        data = write_cifar_folder(self.tmp)[0]
        status, out, err = run_cli("--grid", "micro", "--workers", "1", "--data-dir", data, "--results",
                                   self.results, "--set", "label_smoothing=0.1")
        self.assert_one_line(status, err, "--set label_smoothing=0.1 conflicts")
        self.assertEqual(out, "")
        self.assertEqual(sorted(os.listdir(self.tmp)), ["cifar-10-batches-py", "results"])
        self.assertEqual(os.listdir(os.path.dirname(self.results)), [])

    def test_a_run_that_diverges_is_one_line(self):
        data = write_cifar_folder(self.tmp)[0]
        status, out, err = run_cli("--grid", "micro", "--workers", "1", "--data-dir", data, "--results",
                                   self.results, "--set", "learning_rate=1e38", "--set", "reg=0", "--set", "epochs=1")
        self.assert_one_line(status, err, os.path.join("runs", "longtail", "micro_0.1_CE_"), "diverged",
                             "lower learning_rate", code=1)
        self.assertEqual(results_csv.read_rows(self.results), [])


class CompilerMissing(InScratchFolder):
    def test_torch_compile_that_cannot_compile_in_a_run_says_how_to_go_on(self):
        data = write_cifar_folder(self.tmp)[0]
        run, config_path = grids.grid_runs("micro")[0], grids.available_grids()["micro"].config
        failure = RuntimeError("BackendCompilerFailed: inductor found no C++ compiler")
        with mock.patch("main.fit", side_effect=failure), \
                mock.patch("device.compile_failure", return_value="torch.compile cannot compile here (no compiler)"), \
                self.assertRaisesRegex(config.ConfigError, r"cannot compile here \(no compiler\); run the grid with "
                                                           r"--set compile=none"):
            experiments.run_one(run, config_path, data, [], "cpu", 1)
        with mock.patch("main.fit", side_effect=RuntimeError("another failure")), \
                self.assertRaisesRegex(RuntimeError, "another failure"):  # not the compiler's: as it was
            experiments.run_one(run, config_path, data, [], "cpu", 1)



class RunFolderNames(unittest.TestCase):
    def test_any_set_text_gives_a_folder_name_every_system_takes_and_runs_stay_apart(self):
        run = dict(grid="cpu", imb_factor=0.01, loss_type="CE", reweight=False, beta=0.0, gamma=0.0, seed=0,
                   epochs=8, overrides="")
        self.assertEqual(experiments.run_folder(run), "longtail/cpu_0.01_CE_rwFalse_b0.0_g0.0_s0_e8")
        self.assertEqual(experiments.run_folder(dict(run, overrides="epochs=1 lr_schedule=linear")),
                         "longtail/cpu_0.01_CE_rwFalse_b0.0_g0.0_s0_e8_epochs=1_lr_schedule=linear")  # as before
        texts = ("../../../escape", "..\\..\\escape", "a/b", "a:b", "a?b", "a_b?", "x" * 300, "end.", "日本")
        folders = [experiments.run_folder(dict(run, overrides=f"imbalance={text}")) for text in texts]
        self.assertEqual(len(set(folders)), len(texts))
        for folder in folders:
            top, name = folder.split("/")
            self.assertEqual(top, "longtail")
            self.assertRegex(name, r"\A[A-Za-z0-9_.=-]{1,200}\Z")
            self.assertFalse(name.endswith("."))


if __name__ == "__main__":
    unittest.main()
