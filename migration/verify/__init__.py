"""verify_import: proof, after cutover, that the target matches the legacy file row by row."""
