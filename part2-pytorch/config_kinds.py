"""The kinds of value a setting takes: each has .parse(value), which returns the value or raises ValueError, and
.allowed, which says in words what it takes; a Setting pairs a kind with its section, default and help."""
import math
import os
import re
import reprlib
from dataclasses import dataclass

REQUIRED = object()  # the default of the settings every config must give
PLAIN_NUMBER = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")


class ConfigError(ValueError):
    """A config or override that cannot be used; the message is one line."""


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
