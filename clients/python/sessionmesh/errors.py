"""Exceptions named after the API's error codes (docs/API.md section 3)."""


class SessionMeshError(Exception):
    """An error answer: .status, .code, .message, .request_id."""

    def __init__(self, status, code, message="", request_id=None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.request_id = status, code, message, request_id


class InvalidArgument(SessionMeshError): pass
class Unauthenticated(SessionMeshError): pass
class Forbidden(SessionMeshError): pass
class NotFound(SessionMeshError): pass
class VersionMismatch(SessionMeshError): pass
class TooLarge(SessionMeshError): pass
class QuotaExceeded(SessionMeshError): pass
class TooManyPrograms(QuotaExceeded): pass
class Unavailable(SessionMeshError): pass
class AcksTimeout(SessionMeshError): pass


class Reset(Exception):
    """watch(): the cursor could not be resumed; a full snapshot follows."""


_BY_CODE = {
    "invalid_argument": InvalidArgument, "unauthenticated": Unauthenticated, "forbidden": Forbidden,
    "not_found": NotFound, "version_mismatch": VersionMismatch, "too_large": TooLarge,
    "session_quota_exceeded": QuotaExceeded, "global_program_quota_exceeded": QuotaExceeded,
    "too_many_programs": TooManyPrograms, "draining": Unavailable, "unavailable": Unavailable,
    "overloaded": Unavailable, "clock_skew": Unavailable, "acks_timeout": AcksTimeout,
}


def error_for(status, body):
    err = (body or {}).get("error", {}) if isinstance(body, dict) else {}
    by_status = {400: "invalid_argument", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
                 412: "version_mismatch", 413: "too_large", 429: "session_quota_exceeded", 503: "unavailable",
                 504: "acks_timeout"}
    code = err.get("code") or by_status.get(status, "internal")
    cls = _BY_CODE.get(code, SessionMeshError)
    return cls(status, code, err.get("message", ""), err.get("request_id"))
