"""Part-1 unit tests: python -m unittest, python -m unittest tests, or python -m unittest tests.test_conv
(from part1-convnet/)."""
import os


def load_tests(loader, tests, pattern):
    """Make `python -m unittest tests` run every test module here, as discovery does."""
    here = os.path.dirname(os.path.abspath(__file__))
    tests.addTests(loader.discover(here, pattern or "test*.py", top_level_dir=os.path.dirname(here)))
    return tests
