"""The root of every error globaldns raises on purpose.

Callers catch `GlobalDnsError` (or a subclass they must tell apart) and never a bare
`Exception`, so a bug still surfaces as a bug: logged with its traceback and counted.
"""

from __future__ import annotations


class GlobalDnsError(Exception):
    """Input, configuration or a peer is wrong; the message says what and how to fix it."""
