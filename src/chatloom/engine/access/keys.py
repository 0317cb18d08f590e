"""API-key verification and administration (used by the API for auth and by the CLI).

Public keys open web chat only; `normalize_origin` is the one spelling of an origin that both key
creation and request checks use. A public key's identity secret lets a site vouch for its customers:
`customer.identityHash` is HMAC-SHA256(secret, "<field>:<value>") of the customer's identifying field.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from chatloom.domain.errors import InvalidRequest, NotFound
from chatloom.store import assistants, orgs
from chatloom.store.db import Database
from chatloom.store.orgs import ApiKeyInfo, KeyAccess
from chatloom.store.sessions import CUSTOMER_IDENTITY_FIELDS
from chatloom.vault.box import SecretBox, SecretKeyError

__all__ = ["ApiKeyInfo", "KeyAccess", "KeyVerifier", "identity_message", "normalize_origin"]

DEFAULT_PORTS = {"http": 80, "https": 443}
IDENTITY_SECRET_PREFIX = "cl_idsec_"
IDENTITY_HASH_FIELD = "customer.identityHash"
MAX_OPENED_SECRETS = 10_000

log = logging.getLogger("chatloom.web")


def new_identity_secret(box: SecretBox) -> tuple[str, str]:
    """A new identity secret and its sealed form; `SecretKeyError` when the box has no key."""
    secret = IDENTITY_SECRET_PREFIX + secrets.token_urlsafe(32)
    return secret, box.encrypt(secret)


def identity_message(customer: Mapping[str, Any]) -> str | None:
    """What `customer.identityHash` signs: `<field>:<value>` of the customer's strongest identifying field
    (the one that finds its sessions: externalId, number, email lower-cased, sipUri; values trimmed)."""
    for name in CUSTOMER_IDENTITY_FIELDS:
        value = customer.get(name)
        if isinstance(value, str) and value.strip():
            return f"{name}:{value.strip().lower() if name == 'email' else value.strip()}"
    return None


def normalize_origin(origin: str) -> str:
    """`scheme://host[:port]`, lower-cased and without a default port; raises InvalidRequest for
    anything else (a path, a query, a scheme other than http/https)."""
    text = origin.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidRequest(f"origin '{origin}' is not a valid origin", field="origin") from None
    if parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname:
        raise InvalidRequest(
            f"origin '{origin}' must look like https://shop.example (http or https, a host)", field="origin"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidRequest(
            f"origin '{origin}' must be only scheme://host[:port], without a path", field="origin"
        )
    scheme, host = parts.scheme.lower(), parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


class KeyVerifier:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._opened: dict[str, bytes] = {}

    async def access_for_key(self, key: str) -> KeyAccess | None:
        async with self.db.read() as conn:
            return await orgs.access_for_key(conn, key)

    async def org_for_key(self, key: str) -> str | None:
        access = await self.access_for_key(key)
        return access.org_id if access is not None else None

    async def create(
        self,
        org_name: str,
        key_name: str | None = None,
        *,
        public: bool = False,
        origins: Sequence[str] = (),
        assistant_ids: Sequence[str] = (),
        sealed_identity_secret: str | None = None,
    ) -> tuple[str, str]:
        """Creates the org if needed and a new key for it; returns (org id, plaintext key)."""
        if not public and (origins or assistant_ids):
            raise InvalidRequest("origins and assistants restrict public keys only", field="public")
        if not public and sealed_identity_secret is not None:
            raise InvalidRequest("only public keys have an identity secret", field="public")
        normalized = [normalize_origin(origin) for origin in origins]
        async with self.db.write() as conn:
            org_id = await orgs.ensure_org(conn, org_name)
            for assistant_id in assistant_ids:
                if await assistants.get(conn, org_id, assistant_id) is None:
                    raise NotFound(f"Assistant {assistant_id} not found in org '{org_name}'")
            key = await orgs.create_key(
                conn,
                org_id,
                key_name,
                public=public,
                origins=normalized,
                assistant_ids=assistant_ids,
                sealed_identity_secret=sealed_identity_secret,
            )
        return org_id, key

    async def list(self, org_name: str | None = None) -> list[ApiKeyInfo]:
        async with self.db.read() as conn:
            return await orgs.list_keys(conn, org_name)

    async def revoke(self, key_id_or_prefix: str) -> int:
        async with self.db.write() as conn:
            return await orgs.revoke_key(conn, key_id_or_prefix)

    async def set_identity_secret(self, key_id_or_prefix: str, sealed: str | None) -> int:
        """Gives an active public key this sealed identity secret (None: none), replacing its old one;
        returns how many keys changed (0: no active public key has that id, prefix or value)."""
        async with self.db.write() as conn:
            return await orgs.set_identity_secret(conn, key_id_or_prefix, sealed)

    def identity_vouched(
        self, access: KeyAccess, customer: Mapping[str, Any], signature: str, box: SecretBox
    ) -> bool:
        """Whether `signature` (`customer.identityHash`) is the HMAC-SHA256 of the customer's identity with
        the key's identity secret. A key without one, a customer without an identifying field, or a secret
        this server cannot open is a 400 naming the field."""
        if access.sealed_identity_secret is None:
            raise InvalidRequest(
                f"{IDENTITY_HASH_FIELD}: this public key has no identity secret, so it cannot vouch for a "
                "customer; leave the field out, or give the key one (`chatloom keys identity-secret`)",
                field=IDENTITY_HASH_FIELD,
            )
        message = identity_message(customer)
        if message is None:
            raise InvalidRequest(
                f"{IDENTITY_HASH_FIELD}: signs the customer's externalId, number, email or sipUri, and the "
                "customer has none of them",
                field=IDENTITY_HASH_FIELD,
            )
        secret = self._open(access, box)
        expected = hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature.lower())

    def _open(self, access: KeyAccess, box: SecretBox) -> bytes:
        """The key's identity secret, opened once per sealed value in this process."""
        sealed = access.sealed_identity_secret or ""
        opened = self._opened.get(sealed)
        if opened is None:
            try:
                opened = box.decrypt(sealed).encode()
            except SecretKeyError as error:
                log.warning("identity secret of key %s cannot be opened: %s", access.key_id, error)
                raise InvalidRequest(
                    f"{IDENTITY_HASH_FIELD}: this server cannot check identities now (its secret key "
                    "does not open the public key's identity secret); ask the site's operator",
                    field=IDENTITY_HASH_FIELD,
                ) from None
            if len(self._opened) >= MAX_OPENED_SECRETS:
                self._opened.clear()
            self._opened[sealed] = opened
        return opened
