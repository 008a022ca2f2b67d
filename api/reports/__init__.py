"""AR reports over GraphQL: aging, write-off and adjustment summaries, KPIs, the worklist."""
