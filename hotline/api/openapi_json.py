"""The building blocks of the OpenAPI document's JSON Schemas: the scalar types, and objects, arrays and references."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]


STRING: Json = {"type": "string"}


INT: Json = {"type": "integer"}


BOOL: Json = {"type": "boolean"}


NUMBER: Json = {"type": "number"}


TIME: Json = {"type": "string", "format": "date-time"}


DATE: Json = {"type": "string", "format": "date"}


def ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def array(items: Json) -> Json:
    return {"type": "array", "items": items}


def nullable(schema: Json) -> Json:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(**properties: Json) -> Json:
    """An object with these properties, all of them always present."""
    return {"type": "object", "properties": properties, "required": list(properties)}


def some(required: list[str], **properties: Json) -> Json:
    """An object with these properties, of which only `required` are always present."""
    return {"type": "object", "properties": properties, "required": required}


COUNTS: Json = {"type": "object", "additionalProperties": INT, "description": "A count per key."}
