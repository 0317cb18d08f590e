"""The sealed form of a credential: secret fields replaced by a hint, their values encrypted in `$sealed`.

A credential is a Vapi credential object (`{"provider": "openai", "apiKey": "sk-…"}`, or a
`custom-credential` whose `authenticationPlan.token` is the secret). Stored, each secret field holds its
mask (`…` and the last four characters) and `$sealed` holds one Fernet token of all the secret values;
shown, `$sealed` is dropped; used, `open` puts the values back. Plaintext never reaches the database.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from chatloom.domain.secrets import SEALED_FIELD, SECRET_FIELDS
from chatloom.vault.box import SecretBox

SEALED = SEALED_FIELD
MASK = "…"


Path = tuple[str, ...]


def hint_of(secret: str) -> str:
    """The last four characters of a secret long enough that they give nothing away (else nothing)."""
    return secret[-4:] if len(secret) >= 12 else ""


def mask_of(secret: str) -> str:
    return MASK + hint_of(secret)


def is_mask(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(MASK) and len(value) <= 1 + 4


def _secrets(entry: Mapping[str, Any], prefix: Path = ()) -> Iterator[tuple[Path, str]]:
    for name, value in entry.items():
        if name == SEALED:
            continue
        if isinstance(value, Mapping):
            yield from _secrets(value, (*prefix, name))
        elif name in SECRET_FIELDS and isinstance(value, str):
            yield (*prefix, name), value


def _replaced(entry: Mapping[str, Any], values: Mapping[Path, str], prefix: Path = ()) -> dict[str, Any]:
    """A copy of `entry` with the value at each path of `values` replaced."""
    copy: dict[str, Any] = {}
    for name, value in entry.items():
        path = (*prefix, name)
        if isinstance(value, Mapping):
            copy[name] = _replaced(value, values, path)
        else:
            copy[name] = values.get(path, value)
    return copy


def primary_hint(entry: Mapping[str, Any]) -> str:
    """The hint of a credential's main secret (`apiKey`, else the first secret found), from its mask."""
    masks = dict(_secrets(entry))
    value = masks.get(("apiKey",)) or next(iter(masks.values()), "")
    return value[len(MASK) :] if is_mask(value) else hint_of(value)


def seal(
    box: SecretBox, entry: Mapping[str, Any], previous: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The sealed form of a credential given by a client. A secret field sent back as its mask (as read
    from the API) keeps the value of `previous`, the stored credential it stands for."""
    entry = {name: value for name, value in entry.items() if name != SEALED}
    secrets = dict(_secrets(entry))
    if not secrets:
        return entry
    if any(is_mask(value) for value in secrets.values()):
        kept = dict(_secrets(open_(box, previous))) if previous and SEALED in previous else {}
        for path, value in secrets.items():
            if is_mask(value) and path in kept and mask_of(kept[path]) == value:
                secrets[path] = kept[path]
    token = box.encrypt(orjson.dumps({".".join(path): value for path, value in secrets.items()}).decode())
    sealed = _replaced(entry, {path: mask_of(value) for path, value in secrets.items()})
    sealed[SEALED] = token
    return sealed


def open_(box: SecretBox, entry: Mapping[str, Any]) -> dict[str, Any]:
    """The credential with its secrets in plaintext (an entry stored before sealing is returned as is)."""
    token = entry.get(SEALED)
    plain = {name: value for name, value in entry.items() if name != SEALED}
    if not isinstance(token, str):
        return plain
    values: dict[str, str] = orjson.loads(box.decrypt(token))
    return _replaced(plain, {tuple(path.split(".")): value for path, value in values.items()})


def mask(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The credential as shown: no `$sealed`, every secret field replaced by its mask."""
    plain = {name: value for name, value in entry.items() if name != SEALED}
    secrets = {path: value for path, value in _secrets(plain) if not is_mask(value)}
    return _replaced(plain, {path: mask_of(value) for path, value in secrets.items()}) if secrets else plain


def rotate_all(box: SecretBox, document: Any) -> tuple[Any, int]:
    """`document` with every `$sealed` token at any depth re-encrypted with the first key, and how many."""
    if isinstance(document, list):
        count = 0
        items = []
        for item in document:
            rotated, found = rotate_all(box, item)
            items.append(rotated)
            count += found
        return items, count
    if isinstance(document, dict):
        count = 0
        copy: dict[str, Any] = {}
        for name, value in document.items():
            if name == SEALED and isinstance(value, str):
                copy[name] = box.rotate(value)
                count += 1
            else:
                copy[name], found = rotate_all(box, value)
                count += found
        return copy, count
    return document, 0


def sealed_tokens(document: Any) -> Iterator[str]:
    """Every `$sealed` token at any depth of `document`."""
    if isinstance(document, list):
        for item in document:
            yield from sealed_tokens(item)
    elif isinstance(document, dict):
        for name, value in document.items():
            if name == SEALED and isinstance(value, str):
                yield value
            else:
                yield from sealed_tokens(value)
