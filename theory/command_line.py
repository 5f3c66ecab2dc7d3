"""The theory scripts take no arguments: --help describes a script, anything else is one line (exit status 2)."""
import argparse


class _NoArguments(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (this script takes no arguments; see --help)\n")


def no_arguments(doc):
    """Answer --help with the first paragraph of `doc`; refuse any argument in one line."""
    _NoArguments(description=doc.split("\n\n")[0]).parse_args()
