"""Domain errors: a stable English ``code`` for machines and a Chinese ``message`` for people.

The API answers ``{"code", "message", "field"}`` with ``status``; pages show ``message`` as a
form error; importers put it in their per-row report.
"""

from __future__ import annotations


class JiayuanError(Exception):
    """A request that cannot be done as asked. Never a 500."""

    code = "invalid"
    status = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.field = field

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}


class NotFound(JiayuanError):
    """Missing, or outside the user's scope: the two are never told apart (Zulip's rule)."""

    code = "not_found"
    status = 404

    def __init__(self, message: str = "对象不存在或不在您的管辖范围内", **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class PermissionDenied(JiayuanError):
    code = "permission_denied"
    status = 403

    def __init__(self, message: str = "您的岗位无权执行此操作", **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
