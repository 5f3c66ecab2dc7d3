"""Choosing among equivalent ways to compute one result by timing them on first use, as cuDNN's benchmark mode does.

Which way is fastest depends on the CPU (cache sizes, page-fault cost) and on the BLAS library, so no fixed rule
can be right everywhere. The first call with a given key (the shapes, strides, dtype) runs every candidate once
untimed (its first run allocates and maps its buffers, which later calls reuse), then ROUNDS times in turns, and
keeps the one with the shortest run (other processes can only add time); later calls with that key run only the
winner. Candidates must compute the same result: the tests check each against the plain computation."""
import time

ROUNDS = 3  # timed turns over the candidates on first use
# BLAS worker threads spin for a while after a product (OpenBLAS for about 0.1 s) and would take cores from the
# next candidate: each round starts after a pause as long as the previous round, up to this
SETTLE_SECONDS = 0.1
_winners = {}  # key -> the candidate that was fastest for it
_forced = None  # a candidate to use instead, whatever the key (tests use it to check each candidate)


def fastest(key, candidates, compute):
    """compute(candidate) for the candidate that is fastest for `key`; on the first call with this key, every
    candidate is run once untimed and then timed ROUNDS times."""
    if _forced is not None:
        return compute(_forced)
    if key in _winners:
        return compute(_winners[key])
    shortest = dict.fromkeys(candidates, float("inf"))
    round_start = time.perf_counter()
    for candidate in candidates:
        compute(candidate)
    for _ in range(ROUNDS):
        time.sleep(min(SETTLE_SECONDS, time.perf_counter() - round_start))
        round_start = time.perf_counter()
        for candidate in candidates:
            start = time.perf_counter()
            compute(candidate)
            shortest[candidate] = min(shortest[candidate], time.perf_counter() - start)
    _winners[key] = min(candidates, key=shortest.get)
    # the winner runs once more, last, so that whatever follows is timed in the state it leaves (BLAS's threads
    # spinning or asleep, caches), as it will be on later calls
    return compute(_winners[key])


def winners():
    """The choices made so far, {key: candidate} (bench.py prints them)."""
    return dict(_winners)


def force(candidate):
    """Use `candidate` for every key from now on (None: time and choose again); returns the previous setting."""
    global _forced
    previous, _forced = _forced, candidate
    return previous
