from migration.legacy.source import (
    FileWatch,
    LegacyFileError,
    LegacySource,
    file_sha256,
    open_legacy,
    quote_identifier,
)

__all__ = [
    "FileWatch",
    "LegacyFileError",
    "LegacySource",
    "file_sha256",
    "open_legacy",
    "quote_identifier",
]
