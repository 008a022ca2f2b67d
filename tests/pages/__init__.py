"""Browser tests: pages the API serves, driven in Debian's chromium through Playwright."""
