"""Where each legacy table goes and how each value is read."""
