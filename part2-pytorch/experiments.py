"""Long-tailed CIFAR-10 experiments: run a grid of losses, betas, imbalance factors and seeds; one CSV row a run.

    python experiments.py --grid cpu            # the short CPU schedule (configs/longtail_cpu.yaml)
    python experiments.py --grid paper          # the paper's ResNet-32 schedule, for GPUs
    python experiments.py --grid cpu --list     # what would run, and what is already done
    python experiments.py --plot                # the plots in results/ from results/longtail.csv

Rows go to results/longtail.csv as soon as a run ends (the file is rewritten atomically), so an interrupted grid
loses nothing finished, and a run whose row is there is skipped when the grid runs again. Runs are spread over
--workers processes: one per visible GPU by default, else two CPU processes sharing the cores.
Accuracies are those of the last epoch on the balanced test set (no selection on the test set).
"""
import argparse
import concurrent.futures
import csv
import multiprocessing
import os
import sys
import time

import config

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = "results/longtail.csv"
CLASS_COLUMNS = [f"class_{c}" for c in range(10)]
KEY_COLUMNS = ["grid", "model", "imb_type", "imb_factor", "loss_type", "reweight", "beta", "gamma", "seed", "epochs"]
COLUMNS = KEY_COLUMNS + ["test_acc"] + CLASS_COLUMNS + ["seconds"]
BETAS = (0.9, 0.99, 0.999, 0.9999)
HEADLINE_BETA = 0.9999  # the paper's best beta for CIFAR-10; its headline rows get extra seeds


def losses_of_grid():
    """(loss_type, reweight, beta, gamma) of every loss in the grid: plain CE, then per beta the class-balanced
    softmax CE, the class-balanced softmax focal loss at three gammas and the class-balanced sigmoid focal loss."""
    losses = [("CE", False, 0.0, 0.0)]
    for beta in BETAS:
        losses.append(("CE", True, beta, 0.0))
        losses += [("Focal", True, beta, gamma) for gamma in (0.5, 1.0, 2.0)]
        losses.append(("SigmoidFocal", True, beta, 1.0))
    return losses


def is_headline(loss):
    return loss in (("CE", False, 0.0, 0.0), ("Focal", True, HEADLINE_BETA, 1.0))


GRIDS = {  # name: (base config, imbalance factors, seeds of the headline rows, losses)
    "cpu": (os.path.join(HERE, "configs", "longtail_cpu.yaml"), (0.01, 0.1), (0, 1, 2), losses_of_grid()),
    "paper": (os.path.join(HERE, "configs", "longtail_paper.yaml"), (0.01, 0.1), (0, 1, 2), losses_of_grid()),
    # two runs, for the tests: tiny data and one epoch
    "micro": (os.path.join(HERE, "configs", "longtail_cpu.yaml"), (0.1,), (0,), [("CE", False, 0.0, 0.0), ("Focal", True, 0.999, 1.0)]),
}


def grid_runs(name):
    """Every run of the grid as a dict of the key columns (headline losses get every seed, the rest seed 0)."""
    base, factors, seeds, losses = GRIDS[name]
    settings = config.load_config(base)
    runs = []
    for factor in factors:
        for loss in losses:
            for seed in seeds if is_headline(loss) else seeds[:1]:
                loss_type, reweight, beta, gamma = loss
                runs.append(dict(grid=name, model=settings["model"], imb_type=settings["imb_type"],
                                 imb_factor=factor, loss_type=loss_type, reweight=reweight, beta=beta,
                                 gamma=gamma, seed=seed, epochs=settings["epochs"]))
    return runs


def row_key(row):
    """The identity of a run, the same whether the row came from grid_runs or was read back from the CSV."""
    return tuple(str(row[column]).lower() if column == "reweight" else float(row[column])
                 if column in ("imb_factor", "beta", "gamma") else str(row[column]) for column in KEY_COLUMNS)


def read_rows(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_rows(path, rows):
    """All rows to a temp file, then an atomic rename: a crash leaves the old file or the new, never half."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    temporary = path + ".tmp"
    with open(temporary, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def run_one(run, base_config, data_dir, extra, device_name, threads):
    """Train one grid run in this process; returns its CSV row. Imports here: workers start clean (spawn)."""
    import torch

    import main
    from metrics import accuracy, per_class_accuracy

    torch.set_num_threads(threads)
    overrides = [("imb_factor", run["imb_factor"]), ("loss_type", run["loss_type"]), ("reweight", run["reweight"]),
                 ("beta", run["beta"]), ("gamma", run["gamma"]), ("save_best", False)]
    if data_dir:
        overrides.append(("data_dir", data_dir))
    overrides += extra  # --set pairs: speed settings such as compile or amp
    args = argparse.Namespace(config=base_config, seed=run["seed"], resume=False, evaluate=None,
                              device=torch.device(device_name))
    vars(args).update(config.load_config(base_config, overrides))
    name = "longtail/{grid}_{imb_factor}_{loss_type}_rw{reweight}_b{beta}_g{gamma}_s{seed}".format(**run)
    started = time.perf_counter()
    final = main.fit(args, args.device, run_name=name, echo=lambda line: None)["final"]
    row = dict(run, test_acc=round(accuracy(final), 4), seconds=round(time.perf_counter() - started, 1))
    row.update({column: round(float(value), 4) for column, value in zip(CLASS_COLUMNS, per_class_accuracy(final))})
    return row


def worker_devices(workers):
    """The device of each worker: GPUs in turn when there are any, else the CPU with the cores shared out."""
    import torch

    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        workers = workers or count
        return [(f"cuda:{w % count}", 1) for w in range(workers)]
    workers = workers or 2
    return [("cpu", max(1, (os.cpu_count() or 1) // workers))] * workers


def run_grid(name, workers, data_dir, results, extra=()):
    base_config = GRIDS[name][0]
    done = {row_key(row) for row in read_rows(results)}
    todo = [run for run in grid_runs(name) if row_key(run) not in done]
    print(f"grid {name}: {len(todo)} runs to do, {len(grid_runs(name)) - len(todo)} already in {results}")
    if not todo:
        return
    devices = worker_devices(workers)
    context = multiprocessing.get_context("spawn")  # no fork of a process that holds thread pools or CUDA
    with concurrent.futures.ProcessPoolExecutor(len(devices), mp_context=context) as pool:
        futures = {pool.submit(run_one, run, base_config, data_dir, list(extra), *devices[i % len(devices)]): run
                   for i, run in enumerate(todo)}
        for finished, future in enumerate(concurrent.futures.as_completed(futures), start=1):
            row = future.result()
            write_rows(results, read_rows(results) + [row])
            print(f"[{finished}/{len(todo)}] 1:{round(1 / row['imb_factor'])} {row['loss_type']:12s} "
                  f"reweight={row['reweight']!s:5s} beta={row['beta']:<6} gamma={row['gamma']:<3} "
                  f"seed={row['seed']}  test acc {row['test_acc']:.4f}  ({row['seconds']:.0f} s)", flush=True)


def main_cli(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), help="the grid to run")
    parser.add_argument("--workers", type=int, default=0,
                        help="parallel runs, spread over the GPUs in turn (default: one per GPU, or 2 on CPU); "
                             "more workers than GPUs put several small runs on each GPU")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for every run, e.g. --set compile=reduce-overhead (repeatable)")
    parser.add_argument("--data-dir", default="", help="CIFAR-10 folder (default: the config's)")
    parser.add_argument("--results", default=RESULTS, help="the CSV of finished runs")
    parser.add_argument("--list", action="store_true", help="list the grid's runs and whether each is done")
    parser.add_argument("--plot", action="store_true", help="draw the plots in results/ from the CSV")
    args = parser.parse_args(argv)
    if not (args.grid or args.plot):
        parser.error("give --grid NAME and/or --plot")
    try:
        extra = [config.parse_override(text) for text in args.set]
        for key, value in extra:
            config.load_config(GRIDS[args.grid or "cpu"][0], [(key, value)])  # checked before any run starts
        if args.grid and args.list:
            done = {row_key(row) for row in read_rows(args.results)}
            for run in grid_runs(args.grid):
                print("done" if row_key(run) in done else "todo", *(run[c] for c in KEY_COLUMNS))
        elif args.grid:
            run_grid(args.grid, args.workers, args.data_dir, args.results, extra)
        if args.plot:
            import longtail_plots
            for path in longtail_plots.draw_all(args.results, os.path.dirname(args.results) or "."):
                print(f"wrote {path}")
    except (config.ConfigError, FileNotFoundError) as error:
        print(f"experiments.py: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted; finished runs are in {args.results}, run again to continue", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main_cli())
