"""arledger: composition root (configuration, CLI, local dev stack)."""
