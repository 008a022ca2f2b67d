"""The audit trail: its row type and the auditTrail query."""
