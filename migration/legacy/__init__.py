from .source import LegacyFileError, LegacySource, file_sha256, open_legacy, quote_identifier

__all__ = ["LegacyFileError", "LegacySource", "file_sha256", "open_legacy", "quote_identifier"]
