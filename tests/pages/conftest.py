"""Fixtures of the browser tests (see `tests.pages.browser`)."""

from tests.pages.browser import browser, offline_page

__all__ = ["browser", "offline_page"]
