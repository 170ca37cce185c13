"""The error a request gets: an HTTP status, a short code, the field at fault, and the fix."""

from __future__ import annotations

from typing import Any

from modelcycle.exceptions import ModelcycleError


class RequestError(ModelcycleError):
    """A request the server refuses, with what to send instead.

    Rendered as ``{"error": code, "message": message, "field": field, "request_id": ...}`` with
    HTTP ``status``. The message follows the house template: what is wrong, then the fix.

    Parameters
    ----------
    status
        The HTTP status (4xx for anything the client can fix).
    code
        A short machine-readable kind (``"missing_column"``, ``"wrong_type"``, ...).
    message
        What happened and what to do.
    field
        The column, key or header at fault, when there is one.
    row
        The row of the batch at fault, when there is one.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        row: int | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.field = field
        self.row = row
        super().__init__(message)

    def payload(self, request_id: str | None) -> dict[str, Any]:
        """The JSON body of the error response."""
        body: dict[str, Any] = {"error": self.code, "message": str(self)}
        if self.field is not None:
            body["field"] = self.field
        if self.row is not None:
            body["row"] = self.row
        body["request_id"] = request_id
        return body
