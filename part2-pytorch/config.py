"""Every setting of a run, its YAML section, its allowed values and its default, and how a config is read.

A config is YAML with the sections Train, network, data and loss. As in the kit, a key may sit in any section
(the kit's own files differ); SETTINGS gives each key's usual section, where messages and resolved configs put it.
load_config returns the settings as one flat {key: value} dict, defaults filled in, command-line overrides applied.
Anything not allowed raises ConfigError with a one-line message naming the key, the value and what is allowed.
"""
import argparse
import difflib
import math
import os
import re
import reprlib
from dataclasses import dataclass

import yaml

from data.dataset_cifar import IMBALANCECIFAR10
from data.device_batches import FLIP_MODES
from losses import LOSS_BUILDERS
from models import MODEL_BUILDERS

COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")
REQUIRED = object()  # the default of the settings every config must give
MAX_CONFIG_BYTES = 64 * 1024
IMAGES_PER_CLASS = IMBALANCECIFAR10.img_max  # in CIFAR-10's training set: the long tail's head


class ConfigError(ValueError):
    """A config or override that cannot be used; the message is one line."""


@dataclass(frozen=True)
class Integer:
    minimum: int
    maximum: int = 10**9  # past any count of images, epochs or steps; a 400-digit warmup overflowed a float

    @property
    def allowed(self):
        return f"an integer >= {self.minimum} and <= {self.maximum:,}"

    def parse(self, value):
        if isinstance(value, bool) or not isinstance(value, int) or not self.minimum <= value <= self.maximum:
            raise ValueError
        return value


@dataclass(frozen=True)
class Number:
    low: float
    high: float = math.inf
    low_included: bool = True
    high_included: bool = False

    @property
    def allowed(self):
        if self.high == math.inf:
            return f"a number {'>=' if self.low_included else '>'} {self.low:g}"
        brackets = ("[" if self.low_included else "(") + ("]" if self.high_included else ")")
        return f"a number in {brackets[0]}{self.low:g}, {self.high:g}{brackets[1]}"

    def parse(self, value):
        if isinstance(value, bool):
            raise ValueError
        # YAML 1.1, which PyYAML follows, reads 1e-4 (no dot) as a string; accept it as the number it means
        # (only in plain decimal: float() would take "1_0" as 10 too).
        if isinstance(value, str) and not PLAIN_NUMBER.fullmatch(value.strip()):
            raise ValueError
        number = float(value) if isinstance(value, (int, float, str)) else math.nan
        above_low = number >= self.low if self.low_included else number > self.low
        below_high = number <= self.high if self.high_included else number < self.high
        if not (math.isfinite(number) and above_low and below_high):
            raise ValueError
        return number


class Boolean:
    allowed = "true or false"

    @staticmethod
    def parse(value):
        if not isinstance(value, bool):
            raise ValueError
        return value


class BooleanOrAuto:
    allowed = "true, false or auto"

    @staticmethod
    def parse(value):
        if not (isinstance(value, bool) or value == "auto"):
            raise ValueError
        return value


@dataclass(frozen=True)
class Choice:
    options: tuple

    @property
    def allowed(self):
        return "one of " + ", ".join(self.options)

    def parse(self, value):
        if value not in self.options:
            raise ValueError
        return value


class Text:
    allowed = "a non-empty string"

    @staticmethod
    def parse(value):
        if not isinstance(value, str) or not value:
            raise ValueError
        return value


class FolderPath(Text):
    allowed = ("a folder's path: not blank, no control character (in double quotes YAML reads the \\n and \\t of "
               "D:\\new\\tmp as a newline and a tab: write Windows paths with / or in single quotes), and only "
               "characters the file system can name")

    @staticmethod
    def parse(value):
        try:  # YAML's "\0" or a lone surrogate "\ud800" would fail later, inside os.stat, as a traceback
            if any(c < " " or c == "\x7f" for c in Text.parse(value)) or not value.strip() or not os.fsencode(value):
                raise ValueError
        except UnicodeEncodeError:
            raise ValueError from None
        return value


class Imbalance:
    allowed = "regular for CIFAR-10's, or any other text (the kit's files say imbalance) for long-tailed CIFAR-10"

    @staticmethod
    def parse(value):
        return Text.parse(value)  # as the kit: regular is CIFAR-10's training set, anything else IMBALANCECIFAR10


class Steps:
    allowed = "two increasing epochs [a, b] with 1 <= a < b (the rate drops x0.1 after a and x0.01 after b)"

    @staticmethod
    def parse(value):
        if not (isinstance(value, list) and len(value) == 2):
            raise ValueError
        first, second = (Integer(1).parse(step) for step in value)
        if first >= second:
            raise ValueError
        return [first, second]


@dataclass(frozen=True)
class Setting:
    section: str
    kind: object  # has .parse(value) -> value (ValueError when not allowed) and .allowed (a description)
    default: object = REQUIRED
    help: str = ""


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


_SHORT = reprlib.Repr()
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlevel = 60, 60, 3


def shown(value):
    """repr(value) cut short: a config value can be huge (an alias bomb) and goes into one-line messages."""
    try:
        text = _SHORT.repr(value)
    except ValueError:  # an integer past Python's 4,300 digits of text (YAML reads 0x... of any length)
        text = (f"<an integer of {value.bit_length():,} bits>" if isinstance(value, int) else
                f"<a {type(value).__name__} holding a huge integer>")
    return text if len(text) <= 80 else text[:77] + "..."


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


# What yaml.safe_load raises for a scalar its own types refuse (2024-13-45, !!int abc, 5000 digits), and where
# PyYAML's constructors themselves fail on a tagged value (!!bool maybe: KeyError; !!int '': IndexError)
YAML_VALUE_FAILURES = (ValueError, OverflowError, KeyError, IndexError, AttributeError, TypeError)


def _read_yaml(path):
    try:
        with open(path, "rb") as f:
            text = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"cannot read config {path}: {error.strerror or error}") from None
    except ValueError:  # a NUL in the path, or a character no file name can hold
        raise ConfigError(f"cannot read config {shown(path)}: no file can have that name") from None
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB; a config is a few dozen lines of "
                          f"the sections {', '.join(SECTIONS)}")
    try:
        document = yaml.safe_load(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; a config is YAML with the sections {', '.join(SECTIONS)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a config; expected the sections {', '.join(SECTIONS)}, "
                          f"each a mapping of keys") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{where}: {shown(problem)[1:-1]}") from None
    except YAML_VALUE_FAILURES as error:
        raise ConfigError(f"{path}: a value YAML cannot read ({shown(str(error))[1:-1]}); quote it if it is "
                          f"text, or write the number plainly") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping of the sections {', '.join(SECTIONS)}, got {shown(document)}")
    repeated = _repeated_key(text.decode("utf-8"))
    if repeated:  # YAML would keep the last silently: a second Train section would drop the first's keys
        key, line = repeated
        raise ConfigError(f"{path}: {shown(key)} is given twice (the second time at line {line}); keep one")
    odd = _odd_number(text.decode("utf-8"))
    if odd:
        raise ConfigError(f"{path}: {odd_number_problem(*odd)}")
    return document


def odd_number_problem(text, line=None):
    where = f" at line {line}" if line else ""
    return (f"{shown(text)[1:-1]}{where} is a number YAML reads as {shown(yaml.safe_load(text))} (minutes:seconds, "
            f"octal, hexadecimal, binary or digits grouped with _); write it in plain decimal, or quote it if it is "
            f"text")


def _nodes(text):
    """Every node of the YAML `text`, each once (an alias repeats its anchor's node: a YAML bomb would take ages);
    nodes only, so no object is built."""
    nodes, visited = [yaml.compose(text, Loader=yaml.SafeLoader)], set()
    while nodes:
        node = nodes.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        yield node
        if isinstance(node, yaml.MappingNode):
            nodes.extend(value for _, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            nodes.extend(node.value)


def _repeated_key(text):
    """(key, line) of the first key that a mapping of the YAML `text` holds twice, else None."""
    for node in _nodes(text):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key in (key for key, _ in node.value if isinstance(key, yaml.ScalarNode)):
                if key.value in seen:
                    return key.value, key.start_mark.line + 1
                seen.add(key.value)
    return None


PLAIN_INTEGER = re.compile(r"[-+]?(0|[1-9][0-9]*)")
PLAIN_NUMBER = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")
YAML_INFINITY_OR_NAN = {".inf", "+.inf", "-.inf", ".nan"}  # left to the settings, which refuse them by name


def _odd_number(text):
    """(text, line) of the first number that YAML 1.1 reads in a form few mean: 1:00 is 60 (minutes:seconds),
    010 is 8 (octal), 0x10 and 0b11 are hexadecimal and binary, 1_0 is 10; else None."""
    for node in _nodes(text):
        if isinstance(node, yaml.ScalarNode) and node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
            plain = PLAIN_INTEGER if node.tag.endswith("int") else PLAIN_NUMBER
            if not (plain.fullmatch(node.value) or node.value.lower() in YAML_INFINITY_OR_NAN):
                return node.value, node.start_mark.line + 1
    return None


def parse_value(text, key=None):
    """A command-line value read as YAML, as it would be in a config: '2' -> 2, '[6, 8]' -> [6, 8], 'CE' -> 'CE';
    for a text setting (data_dir) the text itself: a folder may be called `on`, `2024` or `my data #2`."""
    if key in SETTINGS and isinstance(SETTINGS[key].kind, Text):
        return text
    try:
        value = yaml.safe_load(text) if text.strip() else text
    except (yaml.YAMLError, RecursionError, *YAML_VALUE_FAILURES):
        return text  # not YAML, or a value YAML refuses or fails on: left as text for the setting to judge
    odd = isinstance(value, (int, float, list)) and _odd_number(text)  # 1:00, 0x10, [010, 8]
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
    for section, entries in _read_yaml(path).items():
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
