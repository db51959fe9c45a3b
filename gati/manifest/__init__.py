"""Manifests: what an app's handlers and modules promise, generated from its code.

``build_manifest(app)`` is pure (no I/O, nothing of the app is called); ``gati manifest
APP`` prints it; ``docs/manifest-format.md`` defines every field; ``check_contracts``
verifies that handlers and the modules they call agree.
"""

from gati.manifest._build import build_manifest, contract_fingerprint
from gati.manifest._contracts import ContractIssue, ContractReport, check_contracts
from gati.manifest._model import (
    FORMAT,
    AppManifest,
    DeclaredError,
    HandlerManifest,
    HandlerPolicy,
    HookInfo,
    ModuleCall,
    ModuleManifest,
    ModuleMethod,
    ModulePolicy,
    Param,
    PathParam,
    RateLimitInfo,
    SourceInfo,
    TypeRef,
)

__all__ = [
    "FORMAT",
    "AppManifest",
    "ContractIssue",
    "ContractReport",
    "DeclaredError",
    "HandlerManifest",
    "HandlerPolicy",
    "HookInfo",
    "ModuleCall",
    "ModuleManifest",
    "ModuleMethod",
    "ModulePolicy",
    "Param",
    "PathParam",
    "RateLimitInfo",
    "SourceInfo",
    "TypeRef",
    "build_manifest",
    "check_contracts",
    "contract_fingerprint",
]
