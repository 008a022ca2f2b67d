"""The audit trail and audit row sets."""
