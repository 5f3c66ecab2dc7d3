"""Choosing among equivalent ways to compute one result by timing them in use, as cuDNN's benchmark mode does.

Which way is fastest depends on the CPU (cache sizes, page-fault cost), on the BLAS library, and on what runs
around the call: BLAS's worker threads spin for a while after a product (OpenBLAS's for about 0.1 s), so a way
that leaves BLAS to one thread wins on a quiet machine and loses right after another layer's product. So the
candidates are not timed back to back on the first call: the first calls with a given key (the shapes, strides,
dtype) each run the next candidate, timed where the caller runs it, until every candidate has run ROUNDS times;
from then on the one with the shortest median run is used (the median passes over a first run that allocates
the candidate's buffers, and over a run that another process slowed down or that found BLAS's workers awake by
chance). Candidates must compute the same result, so which one ran changes only the speed: the tests check
each against the plain computation.
"""
import statistics
import time

ROUNDS = 3  # runs of each candidate before choosing
_winners = {}  # key -> the candidate that was fastest for it
_trials = {}  # key -> {candidate: [seconds of each run so far]}, for keys not yet decided
_forced = None  # a candidate to use instead, whatever the key (tests use it to check each candidate)


def fastest(key, candidates, compute):
    """compute(candidate) for the candidate that is fastest for `key`, or, while that is not yet known, for the
    next candidate to time."""
    if _forced is not None:
        return compute(_forced)
    if key in _winners:
        return compute(_winners[key])
    trial = _trials.setdefault(key, {candidate: [] for candidate in candidates})
    candidate = min(trial, key=lambda c: len(trial[c]))  # the first of those run least often, in the given order
    start = time.perf_counter()
    result = compute(candidate)
    trial[candidate].append(time.perf_counter() - start)
    if all(len(seconds) >= ROUNDS for seconds in trial.values()):
        _winners[key] = min(trial, key=lambda c: statistics.median(trial[c]))
        del _trials[key]
    return result


def deciding():
    """Whether some key is still timing its candidates (bench.py runs its layers until none is)."""
    return bool(_trials)


def winners():
    """The choices made so far, {key: candidate} (bench.py prints them)."""
    return dict(_winners)


def force(candidate):
    """Use `candidate` for every key from now on (None: the timed choice again); returns the previous setting."""
    global _forced
    previous, _forced = _forced, candidate
    return previous
