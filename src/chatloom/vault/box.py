"""The secret box: encrypts and decrypts credential secrets with the keys of CHATLOOM_SECRET_KEY.

Several comma-separated Fernet keys may be given: the first encrypts, every one decrypts (MultiFernet),
so a key can be rotated without downtime. Nothing outside this package handles ciphertext keys.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEY_VARIABLE = "CHATLOOM_SECRET_KEY"


class SecretKeyError(Exception):
    """The secret key is missing, malformed or does not open what is stored. Its message says which."""


def new_key() -> str:
    return Fernet.generate_key().decode()


def parse_keys(value: str) -> list[Fernet]:
    """The Fernet keys of a comma-separated list; a malformed key raises `SecretKeyError`."""
    keys: list[Fernet] = []
    for position, text in enumerate((part.strip() for part in value.split(",")), start=1):
        if not text:
            continue
        try:
            keys.append(Fernet(text.encode()))
        except (ValueError, TypeError):
            raise SecretKeyError(
                f"{KEY_VARIABLE}: key #{position} is not a Fernet key (32 url-safe base64-encoded bytes); "
                "make one with `chatloom secret-key`"
            ) from None
    return keys


def read_key_file(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as error:
        raise SecretKeyError(f"{KEY_VARIABLE}_FILE: cannot read {path}: {error.strerror}") from None


class SecretBox:
    """Encrypts with the first key, decrypts with any. A box without keys refuses both, clearly."""

    def __init__(self, keys: str | None) -> None:
        fernets = parse_keys(keys) if keys else []
        self._box = MultiFernet(fernets) if fernets else None

    @property
    def configured(self) -> bool:
        return self._box is not None

    def _require(self) -> MultiFernet:
        if self._box is None:
            raise SecretKeyError(
                f"{KEY_VARIABLE} is not set: this server cannot store or use encrypted credentials "
                "(make a key with `chatloom secret-key`)"
            )
        return self._box

    def encrypt(self, plaintext: str) -> str:
        return self._require().encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._require().decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                f"{KEY_VARIABLE} cannot decrypt a stored credential: the key is wrong, or an old key was "
                "dropped before `chatloom credentials rotate` re-encrypted everything with the new one"
            ) from None

    def rotate(self, token: str) -> str:
        """The token re-encrypted with the first key (a wrong key raises `SecretKeyError`)."""
        try:
            return self._require().rotate(token.encode()).decode()
        except InvalidToken:
            self.decrypt(token)  # raises the clear message
            raise
