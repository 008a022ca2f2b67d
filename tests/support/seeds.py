"""The seed of every randomised test in a run: `ARLEDGER_SEED` when set, else a fresh one.

pytest prints it at the start and at the end of the run; `ARLEDGER_SEED=<n> make test` replays
it. Randomised tests take the `rng` fixture (a `random.Random` seeded from this seed and the
test's id) or decorate hypothesis tests with `@hypothesis.seed(SEED)`.
"""

import os
import random

SEED = int(os.environ.get("ARLEDGER_SEED") or random.SystemRandom().randrange(2**32))


def replay_hint() -> str:
    return f"randomised tests seeded with {SEED} (replay: ARLEDGER_SEED={SEED} make test)"


def rng_for(test_id: str) -> random.Random:
    """A generator for one test: the same seed and test id always give the same sequence."""
    return random.Random(f"{SEED}:{test_id}")
