"""One JSON error shape everywhere: {"error": "<code>", "message": "<human text>"}."""

from __future__ import annotations

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    """Raise from any view or service to answer with the JSON error shape."""

    def __init__(self, status: int, code: str, message: str, **details):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def error_response(status: int, code: str, message: str, **details):
    body = {"error": code, "message": message}
    if details:
        body["details"] = details
    return jsonify(body), status


def _wants_json() -> bool:
    return (
        request.path.startswith(("/api/", "/auth/api/", "/readyz", "/admin/api/"))
        or request.accept_mimetypes.best == "application/json"
    )


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, **exc.details)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if not _wants_json():
            return exc
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error on %s", request.path)
        return error_response(500, "internal_error", "Something went wrong on our side.")
