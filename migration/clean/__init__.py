"""clean_legacy: a fixed copy of a legacy file, every change logged inside it."""
