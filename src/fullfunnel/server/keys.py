"""API keys: created once and shown once, stored only as a SHA-256 hash.

A key reads ``ff_<key_id>_<secret>``. The ``api_keys`` table keeps the key id, a
name, the scopes and the hash of the whole key; checking a key looks its id up and
compares hashes in constant time. Revoking sets ``revoked_at``; revoked keys stay
listed.

Scopes: ``read`` (the analyses and the dashboard), ``write`` (post events) and
``admin`` (manage keys over the API), which implies the other two. ``write`` does
not imply ``read``: a collector's key embedded in a website cannot read the data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd

from fullfunnel._dates import now
from fullfunnel.errors import InputError, did_you_mean
from fullfunnel.result import Result
from fullfunnel.warehouse import Warehouse

SCOPES = ("read", "write", "admin")
DEFAULT_SCOPES = ("read", "write")
# what each scope grants besides itself
_IMPLIES = {"admin": ("read", "write")}
_KEY = re.compile(r"^ff_(?P<id>[0-9a-f]{8})_(?P<secret>[A-Za-z0-9_-]{20,100})$")


@dataclasses.dataclass(frozen=True, eq=False)
class ApiKeysResult(Result):
    """API keys without their secrets: id, name, scopes, created, revoked."""

    title = "api keys"
    keys: pd.DataFrame

    def headline(self) -> list[str]:
        active = int((self.keys["status"] == "active").sum()) if not self.keys.empty else 0
        return [f"{active} active API key(s), {len(self.keys) - active} revoked"]


@dataclasses.dataclass(frozen=True, eq=False)
class NewKeyResult(Result):
    """A key just created: the only time its secret is shown."""

    title = "new api key"
    keys: pd.DataFrame
    key: str

    def headline(self) -> list[str]:
        row = self.keys.iloc[0]
        return [
            f"API key '{row['name']}' created (id {row['key_id']}, scopes {row['scopes']}):",
            self.key,
            "Store it now: only its hash is kept, it cannot be shown again.",
        ]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(
    wh: Warehouse, *, name: str, scopes: Iterable[str] = DEFAULT_SCOPES, at: datetime | None = None
) -> NewKeyResult:
    """Create a key with ``scopes``; the result holds the key (shown once).

    >>> import fullfunnel as ff
    >>> new = create_key(ff.connect("duckdb://:memory:"), name="website")
    >>> new.key.startswith("ff_")
    True
    """
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InputError("give the key a name of 1 to 100 characters (`name` website)")
    scopes = _scopes(scopes)
    key_id = secrets.token_hex(4)
    key = f"ff_{key_id}_{secrets.token_urlsafe(32)}"
    row = pd.DataFrame(
        {
            "key_id": [key_id],
            "name": [name],
            "key_hash": [hash_key(key)],
            "scopes": [",".join(scopes)],
            "created_at": [at or now()],
            "revoked_at": pd.Series([None], dtype="datetime64[us]"),
        }
    )
    wh.load("api_keys", row)
    return NewKeyResult(keys=_public(row), key=key)


def list_keys(wh: Warehouse) -> ApiKeysResult:
    """Every key, newest first, without hashes."""
    t = wh.table("api_keys")
    frame = t.order_by([t.created_at.desc(), "key_id"]).execute()
    return ApiKeysResult(keys=_public(frame))


def revoke_key(wh: Warehouse, key_id: str, *, at: datetime | None = None) -> ApiKeysResult:
    """Revoke the key ``key_id`` (its id, or the whole key); it stops working at once."""
    match = _KEY.match(key_id or "")
    key_id = match["id"] if match else (key_id or "").strip()
    t = wh.table("api_keys")
    frame = t.filter(t.key_id == key_id).execute()
    if frame.empty:
        known = list(t.key_id.execute())
        raise InputError(
            f"no API key with id '{key_id}'; 'fullfunnel apikey list' shows the ids."
            + did_you_mean(key_id, known)
        )
    if frame["revoked_at"].isna().all():
        frame["revoked_at"] = pd.Series([at or now()] * len(frame), dtype="datetime64[us]")
        wh.load("api_keys", frame)
    return ApiKeysResult(keys=_public(frame))


@dataclasses.dataclass(frozen=True)
class KeyInfo:
    """What a presented key is: its id, its scopes and whether it was revoked."""

    key_id: str
    scopes: tuple[str, ...]
    revoked: bool

    def grants(self, scope: str) -> bool:
        """Whether the key is active and has ``scope`` (``admin`` implies the rest)."""
        return not self.revoked and grants(self.scopes, scope)


def grants(scopes: Iterable[str], scope: str) -> bool:
    """Whether ``scopes`` include ``scope``, directly or through ``admin``.

    >>> grants(["admin"], "read"), grants(["write"], "read")
    (True, False)
    """
    return any(s == scope or scope in _IMPLIES.get(s, ()) for s in scopes)


def lookup_key(wh: Warehouse, key: str | None) -> KeyInfo | None:
    """The key's id, scopes and state when ``key`` is a key of ``wh``; else None.

    The hash of the whole key is compared in constant time with the stored one.
    """
    match = _KEY.match(key or "")
    if match is None:
        return None
    t = wh.table("api_keys")
    rows = t.filter(t.key_id == match["id"]).execute()
    presented = hash_key(key or "")
    for row in rows.itertuples():
        if hmac.compare_digest(presented, str(row.key_hash)):
            return _info(row)
    return None


def key_by_id(wh: Warehouse, key_id: str) -> KeyInfo | None:
    """The stored state of key ``key_id`` (a session re-reads it on every request,
    so that revoking a key ends its sessions); None when there is no such key."""
    t = wh.table("api_keys")
    rows = t.filter(t.key_id == key_id).execute()
    return _info(next(rows.itertuples())) if not rows.empty else None


def verify_key(wh: Warehouse, key: str | None, *, scope: str) -> str | None:
    """The key's id when ``key`` is valid, not revoked and has ``scope``; else None."""
    info = lookup_key(wh, key)
    return info.key_id if info is not None and info.grants(scope) else None


def _info(row: Any) -> KeyInfo:
    scopes = tuple(s for s in str(row.scopes or "").split(",") if s)
    return KeyInfo(key_id=str(row.key_id), scopes=scopes, revoked=bool(pd.notna(row.revoked_at)))


def _scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    out = []
    for s in scopes:
        for part in str(s).split(","):
            part = part.strip()
            if part not in SCOPES:
                raise InputError(
                    f"unknown scope '{part}'; use read, write, admin, or a list such as read,write."
                    + did_you_mean(part, SCOPES)
                )
            if part not in out:
                out.append(part)
    if not out:
        raise InputError("a key needs at least one scope: read, write or admin")
    return tuple(out)


def _public(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[["key_id", "name", "scopes", "created_at", "revoked_at"]].copy()
    out["status"] = ["revoked" if pd.notna(v) else "active" for v in out["revoked_at"]]
    return out.reset_index(drop=True)
