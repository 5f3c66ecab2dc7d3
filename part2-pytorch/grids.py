"""The long-tailed grids: which runs each one holds (losses, betas, imbalance factors, seeds, the base config)
and how a run is identified, whether it comes from a grid or from a row of a results CSV (experiments.py runs
them)."""
import os
import typing

import config

HERE = os.path.dirname(os.path.abspath(__file__))
CLASS_COLUMNS = [f"class_{c}" for c in range(10)]
KEY_COLUMNS = ["grid", "model", "imb_type", "imb_factor", "loss_type", "reweight", "beta", "gamma", "seed", "epochs",
               "overrides"]
COLUMNS = KEY_COLUMNS + ["test_acc"] + CLASS_COLUMNS + ["seconds"]
BETAS = (0.9, 0.99, 0.999, 0.9999)
HEADLINE_BETA = 0.9999  # the paper's best beta for CIFAR-10; its headline rows get extra seeds
GRID_SETTINGS = ("imb_factor", "loss_type", "reweight", "beta", "gamma", "save_best")  # the grid sets them per run
# Settings that change how fast a run goes or where its data is read, not what it computes: not part of its key.
NEUTRAL_SETTINGS = ("compile", "channels_last", "data_dir", "test_every")
TEST_GRIDS_VARIABLE = "EXPERIMENTS_TEST_GRIDS"  # "1" offers the tests' grids too


def losses_of_grid():
    """(loss_type, reweight, beta, gamma) of every loss in the grid: plain CE, then per beta the class-balanced
    softmax CE, the class-balanced softmax focal loss at three gammas and the class-balanced sigmoid focal loss."""
    losses = [("CE", False, 0.0, 0.0)]
    for beta in BETAS:
        losses.append(("CE", True, beta, 0.0))
        losses += [("Focal", True, beta, gamma) for gamma in (0.5, 1.0, 2.0)]
        losses.append(("SigmoidFocal", True, beta, 1.0))
    return losses


HEADLINE_LOSSES = (("CE", False, 0.0, 0.0), ("Focal", True, HEADLINE_BETA, 1.0))
RESNET32_LOSSES = (  # the assignment's study: CE against the paper's best class-balanced losses at beta 0.9999
    ("CE", False, 0.0, 0.0), ("Focal", True, HEADLINE_BETA, 1.0), ("SigmoidFocal", True, HEADLINE_BETA, 1.0))

DRW_LOSSES = RESNET32_LOSSES[1:]  # deferred re-weighting of the two class-balanced focal losses


class Grid(typing.NamedTuple):
    config: str  # the base config file
    factors: tuple  # imbalance factors
    seeds: tuple  # of the headline losses; the other losses run seed 0 alone
    losses: tuple  # (loss_type, reweight, beta, gamma)
    headline: tuple = HEADLINE_LOSSES
    seed_major: bool = False  # order the runs seed by seed (every loss's seed 0 first), not loss by loss


def config_file(name):
    return os.path.join(HERE, "configs", name)


GRIDS = {
    "cpu": Grid(config_file("longtail_cpu.yaml"), (0.01, 0.1), (0, 1, 2), losses_of_grid()),
    "resnet32-cpu": Grid(config_file("longtail_resnet32_cpu.yaml"), (0.01,), (0, 1, 2), RESNET32_LOSSES,
                         headline=RESNET32_LOSSES),  # every loss, every seed
    "resnet32-cpu-drw": Grid(config_file("longtail_resnet32_cpu_drw.yaml"), (0.01,), (0, 1, 2), DRW_LOSSES,
                             headline=DRW_LOSSES),  # the same schedule, the weights for the last 10 epochs only
    "paper": Grid(config_file("longtail_paper.yaml"), (0.01, 0.1), (0, 1, 2), losses_of_grid()),
    "paper-resnet32": Grid(config_file("longtail_paper.yaml"), (0.01,), (0, 1, 2), RESNET32_LOSSES,
                           seed_major=True),  # one GPU job: seed 0 of the three losses first, then more seeds
}
TEST_GRIDS = {  # two runs on tiny data, for the tests only
    "micro": Grid(config_file("longtail_cpu.yaml"), (0.1,), (0,),
                  (("CE", False, 0.0, 0.0), ("Focal", True, 0.999, 1.0))),
}


def available_grids():
    return {**GRIDS, **TEST_GRIDS} if os.environ.get(TEST_GRIDS_VARIABLE) == "1" else dict(GRIDS)


def check_overrides(extra):
    for key, _ in extra:
        if key in GRID_SETTINGS:
            raise config.ConfigError(f"command line: --set {key} is not allowed: the grid sets {key} for each run")


def run_overrides(run, extra=()):
    """The (key, value) pairs that turn a grid's config into the settings of `run`, the pairs `extra` (--set,
    --data-dir) last: what experiments.run_one trains with, and what grid_runs checks before any run starts."""
    per_run = [(key, run[key]) for key in ("imb_factor", "loss_type", "reweight", "beta", "gamma")]
    return per_run + [("save_best", False)] + list(extra)


def _fails(config_path, overrides):
    try:
        config.load_config(config_path, overrides)
    except config.ConfigError:
        return True
    return False


def check_run_settings(grid, runs, extra):
    """Load every run's complete settings as its worker will, so that none fails on them once the grid has
    started. A run that only --set makes fail is reported as that --set's conflict, not as the config's."""
    for run in runs:
        try:
            config.load_config(grid.config, run_overrides(run, extra))
        except config.ConfigError as error:
            if not extra or _fails(grid.config, run_overrides(run)):
                raise  # the grid's config does not fit its own run: the message names the file
            # the --set pairs without which the run would load (two that clash with each other are both named)
            culprits = [pair for i, pair in enumerate(extra)
                        if not _fails(grid.config, run_overrides(run, extra[:i] + extra[i + 1:]))] or extra
            sets = ", ".join(f"--set {key}={format_value(value)}" for key, value in culprits)
            reason = str(error).removeprefix(grid.config).partition(": ")[2]  # what is wrong, not where
            verb = "conflicts" if len(culprits) == 1 else "conflict"
            raise config.ConfigError(
                f"command line: {sets} {verb} with the grid's {run['loss_type']} run (imb_factor {run['imb_factor']}, "
                f"reweight {format_value(run['reweight'])}, beta {run['beta']}, gamma {run['gamma']}): {reason}; "
                f"leave that --set out or run a grid whose losses allow it") from None


def format_value(value):
    """A setting as short text without spaces: True -> true, [6, 7] -> [6,7], 0.0001 -> 0.0001."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    return str(value)


def describe_overrides(settings, base, extra):
    """The `overrides` column: each --set setting whose resolved value differs from the grid's config, as
    'key=value' pairs sorted by key (so 1e-2 and 0.01 give the same text, and restating a value gives none)."""
    changed = sorted({key for key, _ in extra if key not in NEUTRAL_SETTINGS and settings[key] != base[key]})
    return " ".join(f"{key}={format_value(settings[key])}" for key in changed)


def grid_runs(name, extra=()):
    """Every run of the grid, after the --set pairs `extra`, as a dict of the key columns (headline losses get
    every seed, the rest seed 0). Raises ConfigError for a setting that is not allowed, in any run."""
    check_overrides(extra)
    grid = available_grids()[name]
    base = config.load_config(grid.config)
    # each --set checked here; combinations of settings with each run's loss in check_run_settings
    settings = config.load_config(grid.config, extra, required=False)
    overrides = describe_overrides(settings, base, extra)
    runs = []
    for factor in grid.factors:
        for loss in grid.losses:
            for seed in grid.seeds if loss in grid.headline else grid.seeds[:1]:
                loss_type, reweight, beta, gamma = loss
                runs.append(dict(grid=name, model=settings["model"], imb_type=settings["imb_type"],
                                 imb_factor=factor, loss_type=loss_type, reweight=reweight, beta=beta,
                                 gamma=gamma, seed=seed, epochs=settings["epochs"], overrides=overrides))
    check_run_settings(grid, runs, extra)
    return sorted(runs, key=lambda run: run["seed"]) if grid.seed_major else runs  # sorted() keeps ties in order


def shard_of(runs, shard):
    """The runs of shard (k, n), k 1-based: run i goes to shard i % n + 1, so the n shards split the grid."""
    k, n = shard
    return [run for i, run in enumerate(runs) if i % n == k - 1]


def row_key(row):
    """The identity of a run, the same whether the row came from grid_runs or was read back from the CSV.
    A row of a CSV written before the overrides column existed has no overrides."""
    def value(column):
        text = row.get(column)
        text = "" if text is None else text
        if column == "reweight":
            return str(text).lower()
        return float(text) if column in ("imb_factor", "beta", "gamma") else str(text)
    return tuple(value(column) for column in KEY_COLUMNS)
