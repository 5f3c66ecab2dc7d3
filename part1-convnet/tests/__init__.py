"""Part-1 unit tests: python -m unittest, python -m unittest tests, or python -m unittest tests.test_conv
(from part1-convnet/)."""
import os
import signal

# A suite started in the background by a script (`make test &` without job control) inherits SIGINT ignored, as
# would every child it starts: the Ctrl-C tests need Python's own handler, here and (reset on exec) in children.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def load_tests(loader, tests, pattern):
    """Make `python -m unittest tests` run every test module here, as discovery does."""
    here = os.path.dirname(os.path.abspath(__file__))
    tests.addTests(loader.discover(here, pattern or "test*.py", top_level_dir=os.path.dirname(here)))
    return tests
