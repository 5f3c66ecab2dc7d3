import unittest
from unittest import mock

from modules import _autotune


class FakeClock:
    """perf_counter for _autotune: each compute(candidate) call advances it by that candidate's next duration."""
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class TestChoosingInUse(unittest.TestCase):
    def setUp(self):
        self.addCleanup(_autotune.force, _autotune.force(None))
        self.clock = FakeClock()
        patcher = mock.patch.object(_autotune.time, "perf_counter", self.clock)
        patcher.start()
        self.addCleanup(patcher.stop)
        for state in (_autotune._trials, _autotune._winners):  # these tests see only their own keys
            patcher = mock.patch.dict(state, clear=True)
            patcher.start()
            self.addCleanup(patcher.stop)
        self.calls = []

    def compute_with(self, durations):
        def compute(candidate):
            self.calls.append(candidate)
            self.clock.now += durations[candidate].pop(0) if isinstance(durations[candidate], list) else \
                durations[candidate]
            return f"result of {candidate}"
        return compute

    def test_each_candidate_runs_in_turn_then_the_shortest_median_run_wins(self):
        key = ("test", "turns")
        # "a" is slowest on its first run (allocation) but fastest after; "b" has one lucky run
        self.assertEqual(_autotune.ROUNDS, 3)
        compute = self.compute_with({"a": [9.0, 1.0, 1.0], "b": [2.0, 0.1, 2.0], "c": 3.0})
        results = [_autotune.fastest(key, ["a", "b", "c"], compute) for _ in range(3 * _autotune.ROUNDS)]
        self.assertEqual(self.calls, ["a", "b", "c"] * _autotune.ROUNDS)
        self.assertEqual(results, [f"result of {c}" for c in self.calls])
        self.assertFalse(_autotune.deciding())
        self.assertEqual(_autotune.winners()[key], "a")
        self.calls.clear()
        compute = self.compute_with({"a": 1.0, "b": 2.0, "c": 3.0})
        for _ in range(4):
            self.assertEqual(_autotune.fastest(key, ["a", "b", "c"], compute), "result of a")
        self.assertEqual(self.calls, ["a"] * 4)

    def test_keys_are_decided_apart_and_deciding_says_so(self):
        compute = self.compute_with({"x": 1.0, "y": 0.5})
        _autotune.fastest(("test", "one"), ["x", "y"], compute)
        self.assertTrue(_autotune.deciding())
        for _ in range(2 * _autotune.ROUNDS):
            _autotune.fastest(("test", "two"), ["x", "y"], compute)
        self.assertEqual(_autotune.winners()[("test", "two")], "y")
        self.assertNotIn(("test", "one"), _autotune.winners())
        self.assertTrue(_autotune.deciding())  # "one" has run only "x" once
        for _ in range(2 * _autotune.ROUNDS - 1):
            _autotune.fastest(("test", "one"), ["x", "y"], compute)
        self.assertFalse(_autotune.deciding())

    def test_a_failed_run_is_not_counted_and_the_error_reaches_the_caller(self):
        def compute(candidate):
            self.calls.append(candidate)
            if candidate == "x" and self.calls.count("x") == 1:
                raise MemoryError("no room for x's buffers")
            return candidate
        with self.assertRaises(MemoryError):
            _autotune.fastest(("test", "fails"), ["x", "y"], compute)
        _autotune.fastest(("test", "fails"), ["x", "y"], compute)
        self.assertEqual(self.calls, ["x", "x"])  # tried again, as it has not run yet

    def test_forced_candidate_overrides_a_decision(self):
        compute = self.compute_with({"x": 1.0, "y": 2.0})
        for _ in range(2 * _autotune.ROUNDS):
            _autotune.fastest(("test", "forced"), ["x", "y"], compute)
        _autotune.force("y")
        self.assertEqual(_autotune.fastest(("test", "forced"), ["x", "y"], compute), "result of y")


if __name__ == "__main__":
    unittest.main()
