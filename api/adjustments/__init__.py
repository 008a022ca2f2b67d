"""The applyAdjustment mutation."""
