"""Sealed secrets: AES-256-GCM bound to their row, keys from settings or derived from the internal secret."""

from __future__ import annotations

import base64
import os

import pytest

from services.runtime import errors
from services.runtime.sealing import Sealer


def test_a_sealed_secret_opens_only_with_its_key_and_associated_data() -> None:
    sealer = Sealer(os.urandom(32))
    sealed = sealer.seal(b"sk-secret", b"row-1")

    assert b"sk-secret" not in sealed
    assert sealer.open(sealed, b"row-1") == b"sk-secret"
    assert sealer.seal(b"sk-secret", b"row-1") != sealed  # a fresh nonce every time
    with pytest.raises(errors.ServiceError, match="cannot be decrypted"):
        sealer.open(sealed, b"row-2")
    with pytest.raises(errors.ServiceError, match="cannot be decrypted"):
        Sealer(os.urandom(32)).open(sealed, b"row-1")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(errors.ServiceError, match="cannot be decrypted"):
        sealer.open(tampered, b"row-1")
    with pytest.raises(errors.ServiceError, match="unknown format"):
        sealer.open(b"\x02" + sealed[1:], b"row-1")


def test_keys_come_from_the_setting_or_from_the_internal_secret_per_purpose() -> None:
    configured = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    one = Sealer.from_settings(configured, "ignored", setting="X_KEY", info=b"a")
    assert one.open(Sealer.from_settings(configured, "other", setting="X_KEY", info=b"b").seal(b"s", b""), b"") == b"s"

    derived_a = Sealer.from_settings("", "internal", setting="X_KEY", info=b"purpose a")
    derived_b = Sealer.from_settings("", "internal", setting="X_KEY", info=b"purpose b")
    sealed = derived_a.seal(b"s", b"")
    assert Sealer.from_settings("", "internal", setting="X_KEY", info=b"purpose a").open(sealed, b"") == b"s"
    with pytest.raises(errors.ServiceError):
        derived_b.open(sealed, b"")
    with pytest.raises(ValueError, match="X_KEY must decode to 32 bytes"):
        Sealer.from_settings("c2hvcnQ", "x", setting="X_KEY", info=b"a")
