"""Long-tailed CIFAR-10 experiments: run a grid of losses, betas, imbalance factors and seeds; one CSV row a run.

    python experiments.py --grid cpu            # the short CPU schedule (configs/longtail_cpu.yaml)
    python experiments.py --grid resnet32-cpu   # ResNet-32 at 100:1 on a CPU (configs/longtail_resnet32_cpu.yaml)
    python experiments.py --grid resnet32-cpu-drw   # its CB focal runs, the weights for the last 10 epochs only
    python experiments.py --grid paper          # the paper's ResNet-32 schedule, for GPUs
    python experiments.py --grid paper-resnet32 # its 100:1 ResNet-32 study alone, seed 0 of each loss first
    python experiments.py --grid cpu --list     # what would run, and what is already done
    python experiments.py --grid paper --shard 2/4   # the second of four disjoint slices, for one of 4 machines
    python experiments.py --plot                # the plots in results/ from results/longtail.csv and its shards

Each worker appends its run's row to results/longtail.csv (results_csv.py: under a file lock, the file rewritten
atomically) before it reports back, so neither an interrupted grid nor a killed runner loses anything finished; a
run whose row is there is skipped when the grid runs again, and a run cut short goes on from its last finished
epoch (the last.pth in its folder under runs/longtail/, when that holds the same settings). A row records what
ran: the key columns hold the values the run resolved after --set, and `overrides` lists every setting that --set
changed from the grid's config.
Every run's complete settings (the grid's config, --set, the run's loss) are checked before the first run starts.
A results CSV that cannot be read whole (a value that is not what its column holds, a header without a key
column) is refused, naming its file, row and column, before anything runs or is written.
Runs are spread over --workers processes: one per visible GPU by default, else two CPU processes sharing the
cores (a run left alone at the end takes them all from its next epoch on); a worker whose runner dies exits at
once. Accuracies are those of the last epoch on the balanced test set (no selection on the test set).
"""
import argparse
import concurrent.futures
import contextlib
import hashlib
import multiprocessing
import multiprocessing.connection
import os
import re
import sys
import threading
import time

import cli

if __name__ == "__main__":
    cli.before_loading("experiments.py")  # before torch: Ctrl-C quiet while it loads, a missing package one line

import checkpointing
import config
import files
from data import DataError
from grids import CLASS_COLUMNS, KEY_COLUMNS, available_grids, grid_runs, row_key, run_overrides, shard_of
from results_csv import (ResultsError, append_row, read_all, result_files, results_lock, shard_path, write_bytes,
                         writing_now)
from run_state import Diverged, Interrupted
from runlog import RunBusy

RESULTS = "results/longtail.csv"


def draw_plots(results, out_dir):
    """Every plot and table of longtail_plots from all the grid's CSVs into out_dir; returns the paths written."""
    import longtail_plots

    rows = read_all(results)
    if not rows:
        raise FileNotFoundError(f"no results to plot: no rows in {'/'.join(os.path.split(results))} "
                                f"or its shards")
    outputs = longtail_plots.outputs(rows)
    if not outputs:
        raise FileNotFoundError(f"nothing to plot: every row of {'/'.join(os.path.split(results))} ran with --set "
                                f"overrides, and the plots show runs of a grid's own schedule")
    written = []
    with results_lock(out_dir):
        for name, data in outputs.items():
            written.append(os.path.join(out_dir, name))
            write_bytes(written[-1], data)
    return written


# Runs, in worker processes.

def run_folder(run):
    """runs/<this>: the run's settings, as a folder name every system takes. --set text may hold any character:
    those outside letters, digits and _.=- become '_', and a digest of the text then keeps such runs apart."""
    name = "longtail/{grid}_{imb_factor}_{loss_type}_rw{reweight}_b{beta}_g{gamma}_s{seed}_e{epochs}".format(**run)
    if not run["overrides"]:
        return name
    text = run["overrides"].replace(" ", "_")
    safe = re.sub(r"[^A-Za-z0-9_.=-]", "_", text)
    if safe != text or len(safe) > 80 or safe.endswith("."):
        safe = f"{safe[:80]}_{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    return f"{name}_{safe}"


def run_one(run, base_config, data_dir, extra, device_name, threads):
    """Train one grid run in this process; returns its CSV row. Imports here: workers start clean (spawn)."""
    import torch

    import main
    from metrics import accuracy, per_class_accuracy
    from device import compile_failure
    from run_state import resumable_state

    torch.set_num_threads(threads)
    # main.fit's console lines come once an epoch among others: on the CPU, the moment to take freed cores
    each_line = (lambda line: take_free_cores(threads)) if torch.device(device_name).type == "cpu" else None
    overrides = run_overrides(run, data_overrides(data_dir) + list(extra))  # as grid_runs checked them
    args = config.run_arguments(base_config, overrides, seed=run["seed"], device=torch.device(device_name))
    name = run_folder(run)
    earlier = resumable_state(args, os.path.join("runs", name))  # a run cut short goes on from its last epoch
    args.resume = earlier is not None
    seconds_before = sum(row["seconds"] for row in earlier["rows"]) if earlier else 0.0  # of the epochs it resumes
    started = time.perf_counter()
    with counted_run():
        try:
            final = main.fit(args, args.device, run_name=name, echo=each_line or (lambda line: None))["final"]
        except Diverged as error:  # its message does not say which run of the grid
            raise Diverged(f"{os.path.join('runs', name)}: {error}") from None
        except RuntimeError as error:  # torch.compile without a C++ compiler: one line, as main.py says it
            if compile_failure(error) is None:
                raise
            raise config.ConfigError(f"{compile_failure(error)}; run the grid with --set compile=none") from None
    seconds = round(seconds_before + time.perf_counter() - started, 1)
    row = dict(run, test_acc=round(accuracy(final), 4), seconds=seconds)
    row.update({column: round(float(value), 4) for column, value in zip(CLASS_COLUMNS, per_class_accuracy(final))})
    return row


def data_overrides(data_dir):
    """--data-dir as a setting (before the --set pairs, which may name data_dir too); none when not given."""
    return [("data_dir", data_dir)] if data_dir is not None else []


def check_data(folder):
    """Read every batch file of the CIFAR-10 folder the runs will read (a second or two), so that a missing or
    damaged file is one DataError before any worker starts instead of one failure per worker."""
    from data import load_split
    from data.dataset_cifar import batches_folder

    for train in (True, False):
        load_split(batches_folder(folder), train)


def _exit_when_parent_ends(sentinel):
    multiprocessing.connection.wait([sentinel])
    with writing_now:  # not while this process writes the results
        os._exit(1)


def exit_with_parent():
    """A thread that ends this worker as soon as its parent is gone (killed, say), instead of training on,
    holding gigabytes, for a result nobody would collect. The parent's sentinel becomes ready when it dies, on
    POSIX (a pipe at EOF) and on Windows (a process handle) alike."""
    parent = multiprocessing.parent_process()
    threading.Thread(target=_exit_when_parent_ends, args=(parent.sentinel,), daemon=True).start()


_runs_in_progress = None  # in a worker: the pool's count of runs training now, shared by all its workers


def start_worker(runs_in_progress):
    """Worker initializer: end with the parent; keep the shared count of runs in progress."""
    global _runs_in_progress
    _runs_in_progress = runs_in_progress
    exit_with_parent()


@contextlib.contextmanager
def counted_run():
    """Count this worker's run in the shared count while it trains (no count outside a pool: nothing to do)."""
    if _runs_in_progress is None:
        yield
        return
    with _runs_in_progress.get_lock():
        _runs_in_progress.value += 1
    try:
        yield
    finally:
        with _runs_in_progress.get_lock():
            _runs_in_progress.value -= 1


def take_free_cores(threads):
    """Train on `threads` threads, or on more when fewer runs are in progress than when the pool started: a run
    left at a grid's end takes over the cores of the runs that have finished."""
    import torch

    running = _runs_in_progress.value if _runs_in_progress is not None else 1
    torch.set_num_threads(max(threads, (os.cpu_count() or 1) // max(1, running)))


def run_and_record(results, run, *arguments):
    """In a worker: one run, then its row appended to `results` before the parent hears of it, so a row of a
    finished run is on disk whatever happens to the parent."""
    row = run_one(run, *arguments)
    append_row(results, row)
    return row


def worker_devices(workers, runs):
    """The device and thread count of each worker for `runs` runs: CUDA GPUs in turn when there are any, else an
    Apple GPU (one worker unless asked), else the CPU, the cores shared out among the workers (choose_device's order).
    Never more workers than runs, so that one run left to do gets every core."""
    import torch

    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        workers = min(workers or count, runs)
        return [(f"cuda:{w % count}", 1) for w in range(workers)]
    device = "mps" if torch.backends.mps.is_available() else "cpu"
    workers = min(workers or (1 if device == "mps" else 2), runs)
    return [(device, max(1, (os.cpu_count() or 1) // workers))] * workers


def run_grid(name, workers, data_dir, results, extra=(), shard=(1, 1)):
    runs = shard_of(grid_runs(name, extra), shard)
    with results_lock(os.path.dirname(results) or "."):  # also clears what a killed run left half-written
        done = {row_key(row) for row in read_all(results)}
    todo = [run for run in runs if row_key(run) not in done]
    part = f" shard {shard[0]}/{shard[1]}" if shard != (1, 1) else ""
    cut_short = sum(os.path.exists(os.path.join("runs", run_folder(run), "last.pth")) for run in todo)
    resumes = f" ({cut_short} with a last.pth to go on from)" if cut_short else ""
    print(f"grid {name}{part}: {len(todo)} runs to do{resumes}, {len(runs) - len(todo)} already in "
          f"{', '.join(result_files(results)) or results}", flush=True)
    if not todo:
        return
    base_config = available_grids()[name].config
    settings = config.load_config(base_config, run_overrides(todo[0], data_overrides(data_dir) + list(extra)))
    check_data(settings["data_dir"])
    devices = worker_devices(workers, len(todo))
    context = multiprocessing.get_context("spawn")  # no fork of a process that holds thread pools or CUDA
    pool = concurrent.futures.ProcessPoolExecutor(len(devices), mp_context=context, initializer=start_worker,
                                                  initargs=(context.Value("i", 0),))
    try:
        pending = {pool.submit(run_and_record, results, run, base_config, data_dir, list(extra),
                               *devices[i % len(devices)]) for i, run in enumerate(todo)}
        finished = 0
        while pending:  # waits of a second: a wait without a timeout does not hear Ctrl-C
            done, pending = concurrent.futures.wait(pending, timeout=1, return_when="FIRST_COMPLETED")
            for future in done:
                row, finished = future.result(), finished + 1
                print(f"[{finished}/{len(todo)}] 1:{round(1 / row['imb_factor'])} {row['loss_type']:12s} "
                      f"reweight={row['reweight']!s:5s} beta={row['beta']:<6} gamma={row['gamma']:<3} "
                      f"seed={row['seed']}  test acc {row['test_acc']:.4f}  ({row['seconds']:.0f} s)", flush=True)
    except BaseException:  # Ctrl-C, a failed run: the other runs stop now, not when they would have finished
        if stop_workers(pool):
            with results_lock(os.path.dirname(results) or "."):  # which clears a killed append's file too
                for run in todo:  # and a checkpoint or log a worker was writing when it was ended
                    files.remove_leftovers(os.path.join("runs", run_folder(run), "*"))
        raise
    pool.shutdown()


def stop_workers(pool):
    """End the pool's workers at once; returns whether they all ended within seconds (a worker ended mid-write
    leaves a temporary file, which nobody writes to any more once it has)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # read before shutdown, which clears it
    if hasattr(pool, "terminate_workers"):  # Python 3.14
        pool.terminate_workers()
    else:  # earlier: no public way
        for process in processes:
            with contextlib.suppress(OSError, ValueError):
                process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
    # a process's sentinel is ready once it has ended; is_alive() is not to be trusted here: the pool's own thread
    # reaps the workers too, and a wait that loses that race takes an ended worker for a live one
    left, deadline = sentinels(processes), time.monotonic() + 10
    while left and time.monotonic() < deadline:
        ended = multiprocessing.connection.wait(left, timeout=max(0.0, deadline - time.monotonic()))
        left = [sentinel for sentinel in left if sentinel not in ended]
    return not left


def sentinels(processes):
    """The sentinels of `processes` that can still be waited on (a closed process has ended)."""
    found = []
    for process in processes:
        with contextlib.suppress(ValueError):  # closed
            found.append(process.sentinel)
    return found


def list_lines(runs, done):
    """--list: a header and one aligned line a run, done or todo."""
    table = [["status"] + KEY_COLUMNS] + [["done" if row_key(run) in done else "todo"]
                                          + [str(run[c]) for c in KEY_COLUMNS] for run in runs]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    return [" ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in table]


# The command line.

def shard_argument(text):
    match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise argparse.ArgumentTypeError(f"{text!r} is not K/N with 1 <= K <= N, e.g. 2/4")
    return int(match.group(1)), int(match.group(2))


def results_argument(text):
    """--results: the path of a .csv file (its shards' files go beside it, the plots into its folder)."""
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; give the path of a CSV file, e.g. {RESULTS}")
    if os.path.exists(text) and not os.path.isfile(text):  # reading a pipe would wait for a writer
        raise argparse.ArgumentTypeError(f"{text!r} is not a regular file (a pipe or a device); give the path of "
                                         f"a CSV file, e.g. {RESULTS}")
    if not text.lower().endswith(".csv") or not os.path.basename(text)[:-4]:
        raise argparse.ArgumentTypeError(f"{text!r} is not the path of a .csv file; give one, e.g. {RESULTS}")
    return text


def build_parser():
    parser = cli.CommandLineParser(prog="experiments.py", description=(__doc__ or "").partition("\n\n")[0],
                                   allow_abbrev=False, formatter_class=cli.HelpFormatter)
    parser.add_argument("--grid", choices=sorted(available_grids()), help="the grid to run (none given: --plot alone)")
    parser.add_argument("--workers", type=cli.number_at_least(0), default=0,
                        help="parallel runs, spread over the GPUs in turn (0: one per GPU, or 2 on CPU); "
                             "more workers than GPUs put several small runs on each GPU")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for every run, e.g. --set compile=reduce-overhead (repeatable); "
                             "recorded in each row")
    parser.add_argument("--shard", type=shard_argument, default="1/1", metavar="K/N",
                        help="run only the K-th of N disjoint slices of the grid, into its own CSV "
                             "(results/longtail.shard-K-of-N.csv unless --results is given)")
    parser.add_argument("--data-dir", type=cli.path_argument("the CIFAR-10 folder"), default=None,
                        help="CIFAR-10 folder (default: the config's data_dir)")
    parser.add_argument("--results", type=results_argument, default=None,
                        help=f"the CSV of finished runs (default: {RESULTS}, or its shard's file with --shard); "
                             f"--list, skipping and --plot read it and its shards' files")
    parser.add_argument("--list", action="store_true", help="list the grid's runs and whether each is done")
    parser.add_argument("--plot", action="store_true",
                        help="draw the plots and tables beside the results CSV (results/) from the CSVs")
    return parser


def main_cli(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not (args.grid or args.plot):
        parser.error("give --grid NAME and/or --plot")
    problem = cli.wrong_folder(__file__, [os.path.dirname(args.results or RESULTS), args.data_dir])
    if problem:
        print(cli.error_line("experiments.py", problem), file=sys.stderr)
        return 2
    shard = args.shard
    results = args.results or (shard_path(RESULTS, shard) if shard != (1, 1) else RESULTS)
    try:
        extra = [config.parse_override(text) for text in args.set]
        if args.grid:
            runs = shard_of(grid_runs(args.grid, extra), shard)  # every setting checked before any run starts
        if args.grid and args.list:
            done = {row_key(row) for row in read_all(results)}
            for line in list_lines(runs, done):
                print(line)
        elif args.grid:
            run_grid(args.grid, args.workers, args.data_dir, results, extra, shard)
        if args.plot:
            for path in draw_plots(results, os.path.dirname(results) or "."):
                print(f"wrote {path}")
    except (config.ConfigError, ResultsError, DataError, checkpointing.CheckpointError, RunBusy,
            FileNotFoundError) as error:  # the last four may come back from a worker
        print(cli.error_line("experiments.py", error), file=sys.stderr)
        return 2
    except Diverged as error:
        print(cli.error_line("experiments.py", f"{error}; finished runs are in {results}"), file=sys.stderr)
        return 1
    except OSError as error:  # a read-only or full disk, a folder where a file should be
        if cli.console_failed(error):
            raise  # see cli.quiet_when_the_pipe_closes
        print(cli.error_line("experiments.py", files.os_error_line(error)), file=sys.stderr)
        return 2
    except concurrent.futures.BrokenExecutor:
        print(cli.error_line("experiments.py", f"a worker process died (out of memory?); finished runs are in "
                                               f"{results}, run again to continue"), file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Interrupted) as stop:  # Ctrl-C reaches the workers too, and one may report first
        how, status = files.how_stopped(stop)
        print(f"\n{how}; finished runs are in {results}, run again to continue", file=sys.stderr)
        return status
    return 0


if __name__ == "__main__":
    with files.sigterm_as_interrupt():  # a scheduler ending the job stops the grid as Ctrl-C does
        status = cli.quiet_when_the_pipe_closes(main_cli)
    sys.exit(status)
