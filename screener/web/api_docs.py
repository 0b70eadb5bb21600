"""The JSON API's documentation page, ``/api/v1/docs``, for signed-in users.

It is rendered on the server from the OpenAPI document (``/api/v1/openapi.json``): every
operation with its role, parameters, request body and answers. No Swagger UI or ReDoc
scripts are shipped or fetched from a CDN, so the page works offline and under the
console's Content-Security-Policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from screener.web.deps import API_DOCS_PATH, Reception
from screener.web.rendering import render

router = APIRouter()

METHODS = ("get", "post", "put", "patch", "delete")
ROLE_WORDS = {
    "require_reception": "reception",
    "require_list_editor": "list editor",
    "require_admin": "admin",
}


@dataclass
class Field:
    name: str
    where: str
    type: str
    required: bool
    description: str = ""


@dataclass
class Operation:
    method: str
    path: str
    summary: str
    description: str
    role: str
    parameters: list[Field] = field(default_factory=list)
    body: list[Field] = field(default_factory=list)
    body_name: str = ""
    responses: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return (self.method + self.path).replace("/", "-").replace("{", "").replace("}", "")


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def type_of(schema: dict[str, Any]) -> str:
    """A schema as a short type: ``string``, ``integer | null``, ``list of EntryOut``."""
    if "$ref" in schema:
        return _ref_name(schema["$ref"])
    if "anyOf" in schema:
        return " | ".join(type_of(s) for s in schema["anyOf"])
    if "allOf" in schema:
        return " & ".join(type_of(s) for s in schema["allOf"])
    if "enum" in schema:
        return " | ".join(f'"{v}"' for v in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        return "list of " + type_of(schema.get("items", {}))
    if kind == "string" and "format" in schema:
        return f"string ({schema['format']})"
    return str(kind)


def _schema(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        found: dict[str, Any] = document["components"]["schemas"][_ref_name(schema["$ref"])]
        return found
    return schema


def _fields(document: dict[str, Any], schema: dict[str, Any]) -> list[Field]:
    resolved = _schema(document, schema)
    required = set(resolved.get("required", []))
    return [
        Field(name, "body", type_of(prop), name in required, prop.get("description", ""))
        for name, prop in resolved.get("properties", {}).items()
    ]


def operations(document: dict[str, Any], roles: dict[tuple[str, str], str]) -> list[Operation]:
    found = []
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            operation = Operation(
                method=method.upper(),
                path=path,
                summary=op.get("summary", ""),
                description=op.get("description", ""),
                role=roles.get((method.upper(), path), ""),
            )
            for param in op.get("parameters", []):
                operation.parameters.append(
                    Field(
                        param["name"],
                        param.get("in", ""),
                        type_of(param.get("schema", {})),
                        bool(param.get("required")),
                        param.get("description", "")
                        or param.get("schema", {}).get("description", ""),
                    )
                )
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                schema = body.get("schema", {})
                operation.body_name = type_of(schema)
                operation.body = _fields(document, schema)
            for status, answer in op.get("responses", {}).items():
                content = answer.get("content", {}).get("application/json", {})
                model = type_of(content["schema"]) if "schema" in content else ""
                operation.responses.append((status, answer.get("description", ""), model))
            found.append(operation)
    return found


def route_roles(request: Request) -> dict[tuple[str, str], str]:
    """(method, path) -> the role its dependency requires, for every API route."""
    endpoints: list[tuple[str, set[str], Any]] = []
    for route in request.app.routes:
        if hasattr(route, "effective_route_contexts"):  # an included router, kept as one
            for context in route.effective_route_contexts():
                endpoints.append((context.path, set(context.methods), context.dependant))
        elif getattr(route, "dependant", None) is not None:
            endpoints.append((route.path, set(route.methods), route.dependant))
    roles: dict[tuple[str, str], str] = {}
    for path, methods, dependant in endpoints:
        if not path.startswith("/api/"):
            continue
        stack = list(dependant.dependencies)
        while stack:
            dep = stack.pop()
            name = getattr(dep.call, "__name__", "")
            if name in ROLE_WORDS:
                for method in methods:
                    roles[(method, path)] = ROLE_WORDS[name]
            stack.extend(dep.dependencies)
    return roles


@router.get(API_DOCS_PATH)
async def api_docs(request: Request, user: Reception) -> Response:
    document = request.app.openapi()
    schemas = document.get("components", {}).get("schemas", {})
    models = [
        (name, _fields(document, schema))
        for name, schema in sorted(schemas.items())
        if name.endswith(("Out", "In", "Patch"))
    ]
    return render(
        request,
        "api_docs.html",
        {
            "operations": operations(document, route_roles(request)),
            "models": models,
            "openapi_url": request.app.openapi_url,
        },
    )
