"""Sample legacy files: the production shape, or a studio chain (make_legacy_sample)."""
