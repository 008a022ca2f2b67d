"""The command store and the batched apply.

A command is stored before it is enqueued, applied once under locks and published after commit.
"""
