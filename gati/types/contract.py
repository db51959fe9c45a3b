"""One handler type, everything derived from it: the bundle ``App.handler`` registers.

``contract(CreateUser, app="users", handler="create_user")`` analyzes the type and
compiles its validator, converter and Avro codec once, at registration, so a bad type
fails when the app is imported and a request pays only for the compiled code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gati.errors import RequestError
from gati.types.analyzer import analyze
from gati.types.avro_schema import AvroCodec, namespace_for
from gati.types.convert import compile_converter, to_builtins
from gati.types.issues import Issue
from gati.types.model import GType
from gati.types.validate import Validator, compile_validator


class ValidationFailed(RequestError):
    """A body that does not match its contract: 400 for requests, 500 for responses.

    ``issues`` lists every failing field; ``to_json()`` is the error body's ``issues``.
    """

    code = "validation_failed"

    def __init__(
        self, issues: list[Issue], *, status: int = 400, what: str = "request body"
    ) -> None:
        first = "; ".join(str(i) for i in issues[:3])
        more = f" (and {len(issues) - 3} more)" if len(issues) > 3 else ""
        code = "validation_failed" if status < 500 else "response_invalid"
        super().__init__(f"{what} is invalid: {first}{more}", code=code, status=status)
        self.issues = issues

    def to_json(self) -> list[dict[str, str]]:
        return [issue.to_json() for issue in self.issues]


@dataclass(frozen=True, slots=True)
class TypeContract:
    """A Python type with its GType, compiled validator, converter and Avro codec."""

    python_type: Any
    gtype: GType
    validator: Validator
    converter: Callable[[Any], Any]
    codec: AvroCodec

    @property
    def fingerprint(self) -> str:
        return self.gtype.fingerprint()

    @property
    def avro_schema(self) -> Any:
        return self.codec.schema

    def parse(self, data: Any) -> Any:
        """Validate JSON data (a request body) and convert it to the declared type.

        Raises:
            ValidationFailed: with every failing field (status 400).
        """
        issues = self.validator(data)
        if issues:
            raise ValidationFailed(issues)
        return self.converter(data)

    def dump(self, value: Any) -> Any:
        """JSON data of a handler's result, checked against the contract.

        Raises:
            ValidationFailed: the handler broke its response contract (status 500).
        """
        data = to_builtins(value)
        issues = self.validator(data)
        if issues:
            raise ValidationFailed(issues, status=500, what="response body")
        return data


def contract(tp: Any, *, app: str, handler: str, name: str | None = None) -> TypeContract:
    """Analyze ``tp`` and compile everything derived from it, once.

    Raises:
        AppError: ``tp`` is not a supported contract type (names the type and field).
    """
    gtype = analyze(tp)
    return TypeContract(
        python_type=tp,
        gtype=gtype,
        validator=compile_validator(gtype),
        converter=compile_converter(tp),
        codec=AvroCodec(gtype, namespace=namespace_for(app, handler), name=name),
    )
