"""The ``GatiApp`` CustomResourceDefinition: schema, printer columns, status subresource.

Types and required fields are the API server's to refuse (a write with ``replicas: "two"``
never lands); rules that need words (an image reference's grammar, bounds) are the
operator's (``gati.k8s.spec``), reported as a status condition on a stored resource.
"""

from __future__ import annotations

from typing import Any

from gati.k8s.render import API_VERSION, GROUP, KIND, VERSION

PLURAL = "gatiapps"


def _obj(props: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props, **extra}
    if required:
        out["required"] = required
    return out


_STR = {"type": "string"}
_INT0 = {"type": "integer", "minimum": 0}
_SECRET_REF = _obj({"name": _STR, "key": _STR}, ["name", "key"])
_RESOURCES = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
_ROLE = _obj({"replicas": _INT0, "minReplicas": _INT0, "maxReplicas": _INT0,
              "resources": _RESOURCES})

SPEC_SCHEMA = _obj(
    {
        "image": {**_STR, "description": "Container image with the app and Gati installed."},
        "app": {**_STR, "description": "The app as module:attribute."},
        "imagePullPolicy": {"type": "string", "enum": ["Always", "IfNotPresent", "Never"]},
        "topicPrefix": _STR,
        "kafka": _obj({"bootstrapSecret": _SECRET_REF}, ["bootstrapSecret"]),
        "database": _obj({"urlSecret": _SECRET_REF}, ["urlSecret"]),
        "env": {"type": "array",
                "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
        "roles": _obj({r: _ROLE for r in ("gateway", "worker", "recorder", "playground")}),
        "migration": _obj({"backoffLimit": {**_INT0, "description": "retries of gati migrate"}}),
        "scaling": _obj({"lagPerWorker": {"type": "integer", "minimum": 1},
                         "cooldown": {**_STR, "description": "like 90s, 5m"}}),
        "timescape": _obj({"decommission": _obj({
            "enabled": {"type": "boolean"},
            "coldAfter": {**_STR, "description": "like 72h or 7d"},
            "protectedTags": {"type": "array", "items": _STR},
        })}),
    },
    ["image", "app", "kafka", "database"],
)


def crd() -> dict[str, Any]:
    """The CRD object, ready to apply (``gati k8s crd`` prints it)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"kind": KIND, "plural": PLURAL, "singular": "gatiapp",
                      "listKind": f"{KIND}List", "shortNames": ["gapp"]},
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": _obj({
                    "apiVersion": _STR, "kind": _STR, "metadata": {"type": "object"},
                    "spec": SPEC_SCHEMA,
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                }, ["spec"])},
                "additionalPrinterColumns": [
                    {"name": "Image", "type": "string", "jsonPath": ".spec.image"},
                    {"name": "Running", "type": "string", "jsonPath": ".status.image"},
                    {"name": "Workers", "type": "integer", "jsonPath": ".status.workers.replicas"},
                    {"name": "Lag", "type": "integer", "jsonPath": ".status.workers.lag"},
                    {"name": "Ready", "type": "string",
                     "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
                    {"name": "Reason", "type": "string", "priority": 1,
                     "jsonPath": '.status.conditions[?(@.type=="Ready")].reason'},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
            }],
        },
    }


__all__ = ["API_VERSION", "PLURAL", "crd"]
