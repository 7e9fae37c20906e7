"""Errors raised while reading watchlist files."""


class WatchlistFormatError(ValueError):
    """A watchlist file is malformed or in an unsupported format (message names file and line)."""
