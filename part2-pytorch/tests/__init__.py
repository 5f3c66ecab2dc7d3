"""Part-2 unit tests: python -m unittest, python -m unittest tests, or python -m unittest tests.test_x
(from part2-pytorch/).

The tensors here are tiny, and for tiny tensors one CPU thread is faster than several, and far steadier on a
machine shared with other work, where threads spin waiting for each other.
"""
import os

import torch

torch.set_num_threads(1)


def load_tests(loader, tests, pattern):
    """Make `python -m unittest tests` run every test module here, as discovery does."""
    here = os.path.dirname(os.path.abspath(__file__))
    tests.addTests(loader.discover(here, pattern or "test*.py", top_level_dir=os.path.dirname(here)))
    return tests
