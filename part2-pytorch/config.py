"""Every setting of a run, its YAML section, its allowed values and its default, and how a config is read.

A config is YAML with the sections Train, network, data and loss. As in the kit, a key may sit in any section
(the kit's own files differ); SETTINGS gives each key's usual section, where messages and resolved configs put it.
load_config returns the settings as one flat {key: value} dict, defaults filled in, command-line overrides applied.
Anything not allowed raises ConfigError with a one-line message naming the key, the value and what is allowed.
"""
import argparse
import difflib

import yaml

from config_kinds import (REQUIRED, Boolean, BooleanOrAuto, Choice, ConfigError, FolderPath, Imbalance, Integer,
                          Number, Setting, Steps, Text, shown)
from config_yaml import YAML_VALUE_FAILURES, nodes_of, odd_number, odd_number_problem, read_yaml
from data.dataset_cifar import IMBALANCECIFAR10
from data.device_batches import FLIP_MODES
from losses import LOSS_BUILDERS
from models import MODEL_BUILDERS

COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")
IMAGES_PER_CLASS = IMBALANCECIFAR10.img_max  # in CIFAR-10's training set: the long tail's head
SECTIONS = ("Train", "network", "data", "loss")
SETTINGS = {
    "batch_size": Setting("Train", Integer(1), help="images per training step"),
    "learning_rate": Setting("Train", Number(0, low_included=False), help="base SGD learning rate"),
    "reg": Setting("Train", Number(0), help="SGD weight decay"),
    "epochs": Setting("Train", Integer(1), help="epochs to train"),
    "steps": Setting("Train", Steps(), help="epochs after which the rate drops"),
    "warmup": Setting("Train", Integer(0), help="epochs of linear warm-up (0: none)"),
    "momentum": Setting("Train", Number(0, 1), help="SGD momentum"),
    "nesterov": Setting("Train", Boolean(), False, help="Nesterov momentum (needs momentum > 0)"),
    "lr_schedule": Setting("Train", Choice(("step", "linear")), "step",
                           help="step: the kit's warm-up and steps, per epoch; linear: warm-up, then a linear "
                                "decay to zero at the last epoch, updated every batch"),
    "lookahead": Setting("Train", Boolean(), False,
                         help="average the weights over the last steps (slow weights pulled toward the trained "
                              "ones every 5 steps, ever more as the run ends); the run ends on the average"),
    "amp": Setting("Train", BooleanOrAuto(), False,
                   help="bfloat16 autocast for forward and loss (mixed precision; fastest on recent GPUs and on "
                        "CPUs with bf16 matrix units); auto: where a short timing at the start finds it faster "
                        "(--evaluate: off, as a checkpoint's figures are fp32's)"),
    "test_every": Setting("Train", Integer(1), 1,
                          help="test every N epochs and after the last (the rows of the others have no test "
                               "accuracy, and the best weights are chosen among tested epochs)"),
    "model": Setting("network", Choice(tuple(MODEL_BUILDERS)), help="network to train"),
    "channels_last": Setting("network", Boolean(), False,
                             help="NHWC memory layout for model and batches (faster convolutions on CPU and GPU)"),
    "compile": Setting("network", Choice(COMPILE_MODES), "none",
                       help="torch.compile the model: none, default, reduce-overhead (adds CUDA graphs: one launch "
                            "per step instead of hundreds, the lever for small models on GPUs) or max-autotune "
                            "(also searches for the fastest kernels; compiles for minutes)"),
    "imbalance": Setting("data", Imbalance(),
                         help="the training set: CIFAR-10's, or long-tailed (IMBALANCECIFAR10)"),
    "save_best": Setting("data", Boolean(), help="save the best weights to checkpoints/<model>.pth"),
    "overwrite_checkpoint": Setting("data", Boolean(), False,
                                    help="with save_best, replace checkpoints/<model>.pth by the run's best even when "
                                         "the weights there score higher (the kit's behaviour)"),
    "imb_type": Setting("data", Choice(("exp", "step")), "exp", help="profile of the long-tailed class counts"),
    "imb_factor": Setting("data", Number(0, 1, low_included=False, high_included=True), 0.01,
                          help="rarest class count / commonest class count"),
    "crop_padding": Setting("data", Integer(0, 32), 4, help="zero padding of the random training crop (the kit: 4)"),
    "flips": Setting("data", Choice(FLIP_MODES), "random",
                     help="random: mirror each training image with probability 1/2 (the kit); alternate: mirror "
                          "each image every other epoch, from a random start per image"),
    "data_dir": Setting("data", FolderPath(), "data/cifar-10-batches-py", help="folder of the CIFAR-10 python batches"),
    "loss_type": Setting("loss", Choice(tuple(LOSS_BUILDERS)),
                         help="CE, Focal (softmax focal) or SigmoidFocal (the paper's one-vs-all focal)"),
    "reweight": Setting("loss", Boolean(), None, help="weight classes by their effective number of samples "
                                                      "(default: true for the focal losses, as the later kits, "
                                                      "false for CE)"),
    "reweight_from": Setting("loss", Integer(1), 1, help="with reweight, the first epoch whose loss weights the "
                                                         "classes; the same loss unweighted before it (deferred "
                                                         "re-weighting, Cao et al. 2019)"),
    "beta": Setting("loss", Number(0, 1), 0.9999, help="beta of the effective number of samples"),
    # the papers use 0.5 to 5; by 1000 the loss has long vanished, and from float32's 3.4e38 on it is NaN
    "gamma": Setting("loss", Number(0, 1000, high_included=True), None,
                     help="focusing parameter of the focal losses (default: 1 for the focal losses, as the kit, 0 "
                          "for CE)"),
    "label_smoothing": Setting("loss", Number(0, 1), 0.0, help="label smoothing of the CE loss"),
}


def _check_combinations(values, source):
    """Settings that are each allowed but not together."""
    if values["nesterov"] and values["momentum"] == 0:
        raise ConfigError(f"{source}: Train.nesterov = True needs Train.momentum > 0, got 0")
    # SGD on the weight-decay term alone (curvature reg) is stable only while learning_rate * reg stays below this
    # (the roots of its two-step recurrence); beyond it the decay, which grows with the weights, makes them diverge
    momentum = values["momentum"]
    limit = 2 * (1 + momentum) / (1 + 2 * momentum if values["nesterov"] else 1)
    if values["learning_rate"] * values["reg"] >= limit:
        raise ConfigError(f"{source}: Train.reg = {values['reg']!r} with learning_rate {values['learning_rate']!r} "
                          f"makes the weights grow without bound: learning_rate x reg must stay below {limit:.3g} "
                          f"at momentum {momentum:g}{' with Nesterov' if values['nesterov'] else ''}; lower reg "
                          f"(5e-4 is usual) or learning_rate")
    if values["reweight_from"] > 1 and not values["reweight"]:
        raise ConfigError(f"{source}: loss.reweight_from = {values['reweight_from']} needs loss.reweight = True; "
                          f"expected reweight_from 1 or reweight True")
    if values["imbalance"] != "regular" and int(IMAGES_PER_CLASS * values["imb_factor"]) < 1:
        raise ConfigError(f"{source}: data.imb_factor = {values['imb_factor']!r} leaves the rarest class no training "
                          f"image ({IMAGES_PER_CLASS} x imb_factor < 1); expected at least {1 / IMAGES_PER_CLASS}")
    if values["label_smoothing"] and values["loss_type"] != "CE":
        raise ConfigError(f"{source}: loss.label_smoothing = {values['label_smoothing']!r} is not allowed with "
                          f"loss_type {values['loss_type']}; expected 0 or loss_type CE")


def notes(values):
    """What a run of these settings should be told though each is allowed: a near miss of `regular` (the kit takes
    any other text for the long-tailed set), a warm-up or deferred weighting that the run's epochs never reach
    (a --resume with more epochs may)."""
    said = []
    if values["imbalance"] != "regular" and values["imbalance"].strip().lower() == "regular":  # "Regular", "regular "
        said.append(f"imbalance {values['imbalance']!r} is not 'regular': as in the kit, any other text trains on "
                    f"long-tailed CIFAR-10")
    if values["warmup"] > values["epochs"]:
        said.append(f"warmup {values['warmup']} is longer than the run's {values['epochs']} epochs: the rate never "
                    f"reaches learning_rate {values['learning_rate']:g}")
    if values["reweight"] and values["reweight_from"] > values["epochs"]:
        said.append(f"reweight_from {values['reweight_from']} is past the run's {values['epochs']} epochs: no epoch's "
                    f"loss is weighted")
    return said


def _check(key, value, source):
    setting = SETTINGS[key]
    try:
        return setting.kind.parse(value)
    except (ValueError, TypeError, OverflowError):  # the last: a whole number too big for a float, 1e400 written out
        options = getattr(setting.kind, "options", ())
        close = difflib.get_close_matches(str(value), options, n=1) if isinstance(value, str) else []
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ConfigError(f"{source}: {setting.section}.{key} = {shown(value)} is not allowed; "
                          f"expected {setting.kind.allowed}{hint}") from None


def _unknown_key(key, source):
    close = difflib.get_close_matches(key if isinstance(key, str) else shown(key), list(SETTINGS), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return ConfigError(f"{source}: unknown key {shown(key)}{hint} (keys: {', '.join(SETTINGS)})")


def parse_value(text, key=None):
    """A command-line value read as YAML, as it would be in a config: '2' -> 2, '[6, 8]' -> [6, 8], 'CE' -> 'CE';
    for a text setting (data_dir) the text itself: a folder may be called `on`, `2024` or `my data #2`."""
    if key in SETTINGS and isinstance(SETTINGS[key].kind, Text):
        return text
    try:
        value = yaml.safe_load(text) if text.strip() else text
    except (yaml.YAMLError, RecursionError, *YAML_VALUE_FAILURES):
        return text  # not YAML, or a value YAML refuses or fails on: left as text for the setting to judge
    odd = isinstance(value, (int, float, list)) and odd_number(nodes_of(text))  # 1:00, 0x10, [010, 8]
    if odd:
        raise ConfigError(f"command line: {key or 'a value'} = {odd_number_problem(odd[0])}")
    return value


def parse_override(text):
    """'key=value' or 'Section.key=value' (from --set) -> (key, value)."""
    name, equals, value = text.partition("=")
    if not equals:
        raise ConfigError(f"command line: --set {shown(text)} is not allowed; expected KEY=VALUE")
    section, _, key = name.strip().rpartition(".")
    if section and section not in SECTIONS:  # any section takes any key, as in a file; a made-up one is a typo
        close = difflib.get_close_matches(section, SECTIONS, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ConfigError(f"command line: --set {shown(text)[1:-1]}: unknown section {shown(section)}{hint} "
                          f"(sections: {', '.join(SECTIONS)})")
    key = key.replace("-", "_")
    return key, parse_value(value, key)


def _settings_in(path):
    """{key: value} of the file, from whichever section each key sits in (the kit flattens its sections, and
    its own files place some keys differently); a key given twice must have one value."""
    values, places = {}, {}
    for section, entries in read_yaml(path, ", ".join(SECTIONS)).items():
        if section not in SECTIONS:
            close = difflib.get_close_matches(section if isinstance(section, str) else shown(section), SECTIONS, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigError(f"{path}: unknown section {shown(section)}{hint} (sections: {', '.join(SECTIONS)})")
        if entries is None:
            continue  # an empty section
        if not isinstance(entries, dict):
            raise ConfigError(f"{path}: section {section} = {shown(entries)} is not allowed; "
                              f"expected a mapping of keys")
        for key, value in entries.items():
            if key not in SETTINGS:
                raise _unknown_key(key, path)
            value = _check(key, value, path)
            if key in values and values[key] != value:
                raise ConfigError(f"{path}: {key} is given twice with different values, {places[key]}.{key} = "
                                  f"{shown(values[key])} and {section}.{key} = {shown(value)}; keep one")
            values[key], places[key] = value, section
    return values


def load_config(path, overrides=(), required=True):
    """The validated settings of the YAML file at `path` (None: no file) after the (key, value) `overrides`, as
    {key: value}. With `required` false a missing required key is None instead of an error (--evaluate)."""
    values = _settings_in(path) if path is not None else {}
    for key, value in overrides:
        if key not in SETTINGS:
            raise _unknown_key(key, "command line")
        values[key] = _check(key, value, "command line")
    for key, setting in SETTINGS.items():
        if key not in values:
            if setting.default is REQUIRED and required:
                raise ConfigError(f"{path}: missing required key {setting.section}.{key}; "
                                  f"expected {setting.kind.allowed}")
            values[key] = None if setting.default is REQUIRED else setting.default
    focal = values["loss_type"] not in (None, "CE")
    if values["gamma"] is None:  # as the kit: FocalLoss(gamma=1) unless the config says otherwise
        values["gamma"] = 1.0 if focal else 0.0
    if values["reweight"] is None:  # the later kits' files have no reweight: they weight the focal loss always
        values["reweight"] = focal
    if required:
        changed = sorted({key for key, _ in overrides})  # the error names them: the clash may be of their making
        _check_combinations(values, f"{path} with {', '.join(changed)} from the command line" if changed else path)
    return values


def run_arguments(path, overrides=(), *, seed=0, device=None, name=None, resume=False, evaluate=None):
    """The run's arguments as one plain object: every setting of the config at `path` (after `overrides`) is an
    attribute, as in the kit, beside the run's options (seed, device, name, resume, evaluate)."""
    settings = load_config(path, overrides, required=evaluate is None)
    return argparse.Namespace(config=path, seed=seed, device=device, name=name, resume=resume, evaluate=evaluate,
                              **settings)


def resume_conflicts(saved, current):
    """Keys whose value in `current` would change what the epochs finished under `saved` computed."""
    free = {"data_dir", "compile", "save_best", "overwrite_checkpoint", "test_every"}  # where data go, or speed
    if saved.get("lr_schedule") == "step" and not saved.get("lookahead"):
        free.add("epochs")  # the step schedule does not depend on the length of the run; lookahead's does
    # a setting added since the run was saved has its default there: the value the run was computed with
    return [key for key in current if key not in free
            and saved.get(key, SETTINGS[key].default if key in SETTINGS else None) != current[key]]


def as_sections(values):
    """Flat settings -> {section: {key: value}}, the layout of a config file."""
    sections = {section: {} for section in SECTIONS}
    for key, setting in SETTINGS.items():
        sections[setting.section][key] = values[key]
    return sections
