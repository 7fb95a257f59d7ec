"""Rules about legacy rows that precheck, clean_legacy and the import share."""
