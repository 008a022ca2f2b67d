"""Authorisation, tenant isolation, row-level security, tokens, limits, production mode, fuzzing."""
