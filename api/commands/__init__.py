"""Commands: their type, the command query and the commandStatus subscription."""
