"""The writeOff mutation."""
