"""Types as contracts: Python types -> GType -> validators, converters, Avro, diffs.

Pure: no I/O, no Kafka, no database. Everything here runs at handler registration
(``analyze``, ``compile_*``, ``to_avro``) or per message on compiled code.
"""

from gati.types.analyzer import analyze
from gati.types.avro_schema import AvroCodec, namespace_for, to_avro
from gati.types.compat import (
    AvroVerdict,
    Change,
    CompatibilityReport,
    check_compatibility,
    compare,
    diff,
    render_changes,
)
from gati.types.contract import TypeContract, ValidationFailed, contract
from gati.types.convert import compile_converter, to_builtins
from gati.types.issues import Issue
from gati.types.markers import (
    Description,
    ExclusiveMax,
    ExclusiveMin,
    Format,
    Max,
    MaxLen,
    Min,
    MinLen,
    MultipleOf,
    Pattern,
    Secret,
)
from gati.types.model import Constraints, GType
from gati.types.validate import Validator, compile_validator

__all__ = [
    "AvroCodec",
    "AvroVerdict",
    "Change",
    "CompatibilityReport",
    "Constraints",
    "Description",
    "ExclusiveMax",
    "ExclusiveMin",
    "Format",
    "GType",
    "Issue",
    "Max",
    "MaxLen",
    "Min",
    "MinLen",
    "MultipleOf",
    "Pattern",
    "Secret",
    "TypeContract",
    "ValidationFailed",
    "Validator",
    "analyze",
    "check_compatibility",
    "compare",
    "compile_converter",
    "compile_validator",
    "contract",
    "diff",
    "namespace_for",
    "render_changes",
    "to_avro",
    "to_builtins",
]
