"""Benchmarks of arledger against ceilings measured in the same run (`python -m bench.run`).

Every figure is reported as a ratio to a ceiling from the same run, on the same PostgreSQL
and Redis, in a throwaway database: raw row-lock transactions (pgbench or asyncpg), a bare
strawberry app, and a bare Redis → websocket relay.
"""
