"""A config file read as YAML, safely (yaml.safe_load: nothing in it runs), with the checks YAML itself lacks: a
size limit, a key given twice (YAML keeps the last silently) and numbers in forms few mean (1:00 is 60)."""
import re

import yaml

from config_kinds import PLAIN_NUMBER, ConfigError, shown

MAX_CONFIG_BYTES = 64 * 1024

# What yaml.safe_load raises for a scalar its own types refuse (2024-13-45, !!int abc, 5000 digits), and where
# PyYAML's constructors themselves fail on a tagged value (!!bool maybe: KeyError; !!int '': IndexError)
YAML_VALUE_FAILURES = (ValueError, OverflowError, KeyError, IndexError, AttributeError, TypeError)


def read_yaml(path, sections):
    """The mapping the YAML file at `path` holds; ConfigError, in one line, for anything that cannot be a config
    (`sections`, in words, is what a config holds: the messages say so)."""
    text = _read_text(path, sections)
    try:
        document = yaml.safe_load(text)
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a config; expected the sections {sections}, "
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
        raise ConfigError(f"{path}: expected a mapping of the sections {sections}, got {shown(document)}")
    nodes = nodes_of(text)
    repeated = repeated_key(nodes)
    if repeated:  # YAML would keep the last silently: a second Train section would drop the first's keys
        key, line = repeated
        raise ConfigError(f"{path}: {shown(key)} is given twice (the second time at line {line}); keep one")
    odd = odd_number(nodes)
    if odd:
        raise ConfigError(f"{path}: {odd_number_problem(*odd)}")
    return document


def _read_text(path, sections):
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"cannot read config {path}: {error.strerror or error}") from None
    except ValueError:  # a NUL in the path, or a character no file name can hold
        raise ConfigError(f"cannot read config {shown(path)}: no file can have that name") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB; a config is a few dozen lines of "
                          f"the sections {sections}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; a config is YAML with the sections {sections}") from None


def odd_number_problem(text, line=None):
    where = f" at line {line}" if line else ""
    return (f"{shown(text)[1:-1]}{where} is a number YAML reads as {shown(yaml.safe_load(text))} (minutes:seconds, "
            f"octal, hexadecimal, binary or digits grouped with _); write it in plain decimal, or quote it if it is "
            f"text")


def nodes_of(text):
    """Every node of the YAML `text`, each once (an alias repeats its anchor's node: a YAML bomb would take ages);
    nodes only, so no object is built."""
    found, waiting, visited = [], [yaml.compose(text, Loader=yaml.SafeLoader)], set()
    while waiting:
        node = waiting.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        found.append(node)
        if isinstance(node, yaml.MappingNode):
            waiting.extend(value for _, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            waiting.extend(node.value)
    return found


def repeated_key(nodes):
    """(key, line) of the first key that a mapping among the YAML `nodes` holds twice, else None."""
    for node in nodes:
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key in (key for key, _ in node.value if isinstance(key, yaml.ScalarNode)):
                if key.value in seen:
                    return key.value, key.start_mark.line + 1
                seen.add(key.value)
    return None


PLAIN_INTEGER = re.compile(r"[-+]?(0|[1-9][0-9]*)")
YAML_INFINITY_OR_NAN = {".inf", "+.inf", "-.inf", ".nan"}  # left to the settings, which refuse them by name


def odd_number(nodes):
    """(text, line) of the first number among the YAML `nodes` that YAML 1.1 reads in a form few mean: 1:00 is 60
    (minutes:seconds), 010 is 8 (octal), 0x10 and 0b11 are hexadecimal and binary, 1_0 is 10; else None."""
    for node in nodes:
        if isinstance(node, yaml.ScalarNode) and node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
            plain = PLAIN_INTEGER if node.tag.endswith("int") else PLAIN_NUMBER
            if not (plain.fullmatch(node.value) or node.value.lower() in YAML_INFINITY_OR_NAN):
                return node.value, node.start_mark.line + 1
    return None
