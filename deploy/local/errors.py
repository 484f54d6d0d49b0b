"""The failure `byoc local` reports to the user as is."""

from __future__ import annotations


class LocalEndpointError(RuntimeError):
    """A failure to report to the user as is (the message says what to do)."""
