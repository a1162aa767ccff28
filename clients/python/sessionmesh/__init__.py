"""sessionmesh: a Python client for the sessionmesh registry (standard library
plus Debian's python3-websockets for watch()). See Client."""

from .client import Client
from .errors import (SessionMeshError, InvalidArgument, Unauthenticated, Forbidden, NotFound,
                     VersionMismatch, TooLarge, QuotaExceeded, TooManyPrograms, Unavailable,
                     AcksTimeout, Reset)

__all__ = ["Client", "SessionMeshError", "InvalidArgument", "Unauthenticated", "Forbidden", "NotFound",
           "VersionMismatch", "TooLarge", "QuotaExceeded", "TooManyPrograms", "Unavailable", "AcksTimeout",
           "Reset"]
