import threading
import unittest
from unittest import mock

import numpy as np

from modules import _scratch


class TestScratchBuffers(unittest.TestCase):
    def test_same_key_same_array_and_new_ones_zeroed(self):
        first = _scratch.buffer(("test", 1), (3, 4), np.float64)
        np.testing.assert_array_equal(first, np.zeros((3, 4)))
        first[...] = 7
        again = _scratch.buffer(("test", 1), (3, 4), np.float64)
        self.assertIs(again, first)
        self.assertTrue((again == 7).all())  # kept as the caller left it
        for other in [_scratch.buffer(("test", 2), (3, 4), np.float64),
                      _scratch.buffer(("test", 1), (4, 3), np.float64),
                      _scratch.buffer(("test", 1), (3, 4), np.float32)]:
            self.assertIsNot(other, first)
            self.assertFalse(other.any())

    def test_each_thread_has_its_own(self):
        mine = _scratch.buffer(("test", "thread"), (5,), np.float64)
        theirs = []
        thread = threading.Thread(target=lambda: theirs.append(_scratch.buffer(("test", "thread"), (5,), np.float64)))
        thread.start()
        thread.join()
        self.assertIsNot(theirs[0], mine)
        self.assertFalse(np.shares_memory(theirs[0], mine))

    def test_least_recently_used_go_beyond_the_byte_limit(self):
        with mock.patch.object(_scratch, "BYTES_KEPT", 3 * 800):
            def get(name):
                return _scratch.buffer(("test", "limit", name), (100,), np.float64)  # 800 bytes each
            a, b, c = get("a"), get("b"), get("c")
            self.assertIs(get("a"), a)  # now b is the least recently used
            get("d")
            self.assertIs(get("a"), a)
            self.assertIs(get("c"), c)
            self.assertIsNot(get("b"), b)

    def test_a_buffer_beyond_the_byte_limit_alone_is_still_kept(self):
        with mock.patch.object(_scratch, "BYTES_KEPT", 100):
            big = _scratch.buffer(("test", "too big"), (1000,), np.float64)
            self.assertIs(_scratch.buffer(("test", "too big"), (1000,), np.float64), big)


if __name__ == "__main__":
    unittest.main()
