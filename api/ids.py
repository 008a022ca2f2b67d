"""Relay-style global ids: base64 of `Type:pk`."""

import base64
import binascii

import strawberry

MAX_PK = 2**63 - 1  # primary keys are BIGINT; larger numbers can name nothing


def encode_id(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def encode_optional_id(type_name: str, pk: int | None) -> strawberry.ID | None:
    """The global id of a nullable reference: None stays None."""
    return None if pk is None else strawberry.ID(encode_id(type_name, pk))


def decode_any(global_id: str) -> tuple[str, int] | None:
    """`(type, pk)`, or None when the id is malformed."""
    try:
        type_name, _, pk = base64.b64decode(global_id, validate=True).decode().partition(":")
        if not (type_name and pk.isascii() and pk.isdigit()) or int(pk) > MAX_PK:
            return None
        return type_name, int(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def decode_id(global_id: str, type_name: str) -> int | None:
    """The pk of a `type_name` id, or None when malformed or of another type."""
    decoded = decode_any(global_id)
    return decoded[1] if decoded and decoded[0] == type_name else None
