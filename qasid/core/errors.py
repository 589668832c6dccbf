"""The one error type of qasid: a Matrix error with an HTTP status and an errcode."""

from __future__ import annotations

from typing import Any


class MatrixError(Exception):
    """Raised anywhere below the API; rendered once, in api/, as {"errcode", "error"}."""

    def __init__(
        self, status: int, errcode: str, message: str, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.errcode = errcode
        self.message = message
        self.extra = extra
        self.headers: dict[str, str] = {}

    def to_json(self) -> dict[str, Any]:
        """The response body the spec defines for this error."""
        return {"errcode": self.errcode, "error": self.message, **self.extra}


def forbidden(message: str) -> MatrixError:
    return MatrixError(403, "M_FORBIDDEN", message)


def not_found(message: str) -> MatrixError:
    return MatrixError(404, "M_NOT_FOUND", message)


def bad_json(message: str) -> MatrixError:
    return MatrixError(400, "M_BAD_JSON", message)


def missing_param(message: str) -> MatrixError:
    return MatrixError(400, "M_MISSING_PARAM", message)


def invalid_param(message: str) -> MatrixError:
    return MatrixError(400, "M_INVALID_PARAM", message)


def too_large(message: str) -> MatrixError:
    return MatrixError(413, "M_TOO_LARGE", message)


def limit_exceeded(retry_after_ms: int) -> MatrixError:
    err = MatrixError(
        429, "M_LIMIT_EXCEEDED", "Too many requests", retry_after_ms=retry_after_ms
    )
    err.headers["Retry-After"] = str(max(1, (retry_after_ms + 999) // 1000))
    return err
