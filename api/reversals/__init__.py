"""The reverseEntry mutation."""
