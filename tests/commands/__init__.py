"""The command path: batched apply, delivery exactly once, coalesced wake-ups."""
