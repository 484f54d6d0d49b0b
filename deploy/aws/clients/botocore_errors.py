"""How botocore's ClientError reads: its code, a message for people, "does not exist" (pure)."""

from __future__ import annotations

from botocore.exceptions import ClientError


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def error_message(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', 'Error')}: {error.get('Message', str(exc))}"


def is_not_found(exc: ClientError) -> bool:
    """SageMaker's way of saying the resource does not exist (a ValidationException)."""
    message = exc.response.get("Error", {}).get("Message", "")
    return error_code(exc) in ("ValidationException", "ValidationError", "ResourceNotFound") and (
        "Could not find" in message or "does not exist" in message or "not found" in message.lower()
    )
