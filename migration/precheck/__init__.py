"""precheck: everything that stands between a legacy file and a clean import."""
