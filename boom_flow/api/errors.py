"""Errors as api.md shapes them: ``{"message": ...}`` with a status that says who
must act (400 the query, 401 the token, 403 the permissions, 404 the name, 413/422
the body, 503 retry later).

Route code raises ``ApiError`` (or lets a pymongo error through); the handlers
installed by ``install_handlers`` turn everything into the one error shape, so a
client never has to parse FastAPI's or pymongo's own formats.
"""

from __future__ import annotations

import logging

from bson.errors import InvalidDocument
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    DocumentTooLarge,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
)
from starlette.exceptions import HTTPException as StarletteHTTPException

from boom_flow.api.encoding import DocumentResponse

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error for the client: an HTTP status and a message saying what is wrong."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, message)


def too_large(message: str) -> ApiError:
    return ApiError(413, message)


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, {"WWW-Authenticate": "Bearer"})


def error_response(status: int, message: str,
                   headers: dict[str, str] | None = None) -> DocumentResponse:
    return DocumentResponse({"message": message}, status_code=status, headers=headers)


def database_error(error: PyMongoError, budget_ms: int | None = None) -> ApiError:
    """The client's view of a database failure.

    A query stopped by its time budget is a 503 (api.md: "overloaded; clients retry"):
    the budget protects the shared server, and the same query may fit when the server
    is less busy; the message names the budget so a user can narrow the query instead.
    A query the server refuses (bad operator, bad geometry) is the client's 400.
    """
    if isinstance(error, ExecutionTimeout) or getattr(error, "timeout", False):
        budget = f" of {budget_ms} ms" if budget_ms else ""
        return ApiError(503, f"query exceeded its time budget{budget} and was stopped by the "
                             "database; narrow the filter, add a limit or raise max_time_ms",
                        {"Retry-After": "1"})
    if isinstance(error, (AutoReconnect, ConnectionFailure)):
        return ApiError(503, "the database is unavailable; retry shortly", {"Retry-After": "5"})
    if isinstance(error, OperationFailure):
        detail = (error.details or {}).get("errmsg") or str(error)
        if error.code in TOO_LARGE_CODES or "too large" in detail.lower():
            return too_large(f"the query is too large for the database: {detail[:300]}")
        return bad_request(f"the database refused the query: {detail}")
    log.exception("database error", exc_info=error)
    return ApiError(500, "internal database error")


#: BSONObjectTooLarge, and the "document too large" of updates and aggregation.
TOO_LARGE_CODES = frozenset({10334, 17419, 17420, 16493, 4568})


def _unencodable(error: InvalidDocument | OverflowError | RecursionError) -> ApiError:
    """A query the database driver cannot even encode: too large (413) or not
    representable in BSON (400), never a 500."""
    if isinstance(error, DocumentTooLarge) or "too large" in str(error).lower():
        return too_large("the query is too large for the database (16 MB per document "
                         "or command); split it into smaller requests")
    if isinstance(error, OverflowError):
        return bad_request("a number in the query is too large (64-bit integers at most)")
    if isinstance(error, RecursionError):
        return bad_request("the query is nested too deeply")
    return bad_request(f"the query cannot be encoded for the database: {str(error)[:300]}")


def _validation_message(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {item.get('msg', 'invalid')}")
    return "malformed request: " + "; ".join(parts)


def install_handlers(app: FastAPI) -> None:
    """Route every error through the ``{"message"}`` shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> DocumentResponse:
        return error_response(error.status, error.message, error.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> DocumentResponse:
        return error_response(422, _validation_message(error))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> DocumentResponse:
        return error_response(error.status_code, str(error.detail), error.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> DocumentResponse:
        log.error("unexpected error", exc_info=error)
        return error_response(500, "internal error; the server logged the details")

    @app.exception_handler(InvalidDocument)
    @app.exception_handler(OverflowError)
    @app.exception_handler(RecursionError)
    async def _unencodable_query(_: Request, error: Exception) -> DocumentResponse:
        api_error = _unencodable(error)  # type: ignore[arg-type]
        return error_response(api_error.status, api_error.message)

    @app.exception_handler(PyMongoError)
    async def _mongo(_: Request, error: PyMongoError) -> DocumentResponse:
        api_error = database_error(error)
        return error_response(api_error.status, api_error.message, api_error.headers)
