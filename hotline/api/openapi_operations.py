"""How one operation of the OpenAPI document is described: its parameters, its body, its answer and the errors it
can give; and the path and query parameters the operations share."""

from __future__ import annotations

from hotline.api.common import MAX_BODY_INT, MAX_QUERY_INT
from hotline.api.openapi_json import Json, ref

ERRORS = {
    "400": "Malformed query or JSON body.",
    "401": "No token, or an unknown or revoked one.",
    "403": "This token's role may not do this.",
    "404": "No such object, or not in this token's scope (the same answer).",
    "409": "The object's state refuses this action (the message says why).",
    "413": "The body is over 64 KiB.",
    "415": "The body is not application/json.",
    "422": "A field is missing, unknown, or of the wrong type or value.",
    "502": "The phone provider could not be reached, or refused the hotline (the message says what to do).",
}


def json_body(schema: Json) -> Json:
    return {"content": {"application/json": {"schema": schema}}}


def audio_body(schema: Json) -> Json:
    return {"content": {"audio/mpeg": {"schema": schema}, "audio/wav": {"schema": schema}}}


def query(name: str, schema: Json, description: str) -> Json:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1, "maximum": 999_999_999}}


MESSAGE_ID = {**ID, "name": "message_id", "description": "A voicemail's message_id, from the task's voicemails."}


AUDIO = {"type": "string", "contentMediaType": "audio/*"}


INT = {"type": "integer", "minimum": 0}


QUERY_ID = {"type": "integer", "minimum": 1, "maximum": MAX_QUERY_INT}


OFFSET = {**INT, "maximum": MAX_QUERY_INT, "default": 0}


BODY_ID = {"type": "integer", "minimum": 1, "maximum": MAX_BODY_INT}


NO_NUL = "^[^\\u0000]*$"  # text without NUL, which the database cannot hold


DAY = {"type": "string", "format": "date", "pattern": "^(19|2[0-9])[0-9]{2}-[0-9]{2}-[0-9]{2}$"}  # 1900 to 2999


def op(
    summary: str,
    tag: str,
    result: Json,
    *,
    params: tuple[Json, ...] = (),
    body: Json | None = None,
    body_required: bool = True,
    errors: str = "",
    description: str = "",
) -> Json:
    """One operation: its parameters, its JSON body, its answer, and the errors it can give (besides 401)."""
    codes = sorted({"401", *errors.split()} | ({"400", "413", "415", "422"} if body else set()))
    operation: Json = {
        "summary": summary,
        "tags": [tag],
        "operationId": "",
        "parameters": list(params),
        "responses": {
            "200": {"description": "Done.", **(audio_body(result) if result is AUDIO else json_body(result))},
            **{code: {"description": ERRORS[code], **json_body(ref("Error"))} for code in codes},
        },
    }
    if description:
        operation["description"] = description
    if body is not None:
        strict = {"additionalProperties": False} if body.get("type") == "object" else {}
        operation["requestBody"] = {"required": body_required, **json_body({**_optional_null(body), **strict})}
    return operation


def _optional_null(body: Json) -> Json:
    """An object body whose fields not required may also be null, which reads as leaving them out."""
    if "properties" not in body:
        return body
    required = set(body.get("required", []))
    properties = {
        name: schema if name in required or "null" in str(schema.get("type")) else {"anyOf": [schema, {"type": "null"}]}
        for name, schema in body["properties"].items()
    }
    return {**body, "properties": properties}


def task_action(summary: str, body: Json, *, required: bool = True, description: str = "") -> Json:
    return {
        "post": op(
            summary,
            "tasks",
            ref("TaskActionResult"),
            params=(ID,),
            body=body,
            body_required=required,
            errors="404 409",
            description=description,
        )
    }


def text_up_to(limit: int) -> Json:
    return {"type": "string", "maxLength": limit}
