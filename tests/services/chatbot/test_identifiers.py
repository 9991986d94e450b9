"""Unit tests of embed ids, visitor secrets (encrypted at rest) and visitor signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid

import pytest

from services.chatbot import embed_config, embed_ids, visitor_identity
from services.chatbot.visitor_identity import SecretBox
from services.runtime import errors


def test_embed_ids_are_prefixed_url_safe_and_distinct() -> None:
    ids = {embed_ids.new_embed_id() for _ in range(2000)}
    assert len(ids) == 2000
    for value in ids:
        assert embed_ids.well_formed(value), value
        assert len(value) == 4 + 22
        # 22 base64url characters carry the 128 random bits.
        raw = base64.urlsafe_b64decode(value[4:] + "==")
        assert len(raw) == 16
    assert not embed_ids.well_formed("emb_short")
    assert not embed_ids.well_formed("emb_" + "a" * 21 + "=")
    assert not embed_ids.well_formed("xyz_" + "a" * 22)


def test_visitor_secret_format() -> None:
    secret = visitor_identity.new_secret()
    assert secret.startswith("vsk_")
    assert len(secret) == 4 + 43
    assert visitor_identity.new_secret() != secret


def test_signature_matches_the_documented_recipe_and_compares_safely() -> None:
    secret, visitor = "vsk_" + "k" * 43, "user-42@example.com"
    expected = hmac.new(secret.encode(), visitor.encode(), hashlib.sha256).hexdigest()
    assert visitor_identity.signature(secret, visitor) == expected
    assert visitor_identity.signature_valid(secret, visitor, expected)
    assert visitor_identity.signature_valid(secret, visitor, expected.upper())
    assert not visitor_identity.signature_valid(secret, visitor + "x", expected)
    assert not visitor_identity.signature_valid("vsk_other", visitor, expected)
    assert not visitor_identity.signature_valid(secret, visitor, expected[:-1])
    assert not visitor_identity.signature_valid(secret, visitor, "zz" * 32)
    assert not visitor_identity.signature_valid(secret, visitor, "é" * 64)
    assert not visitor_identity.signature_valid(secret, visitor, "")


def test_anonymous_ids() -> None:
    anon = visitor_identity.new_anonymous_id()
    assert visitor_identity.is_anonymous_id(anon)
    assert not visitor_identity.is_anonymous_id("anon_not-a-uuid")
    assert not visitor_identity.is_anonymous_id(str(uuid.uuid4()))
    assert not visitor_identity.is_anonymous_id("anon_" + uuid.uuid4().hex)  # not canonical


def test_secret_box_round_trip_is_bound_to_its_chatbot() -> None:
    box = SecretBox.from_settings("", secrets.token_urlsafe(48))
    tenant, bot = uuid.uuid4(), uuid.uuid4()
    secret = visitor_identity.new_secret()
    sealed = box.seal(secret, tenant, bot)
    assert secret.encode() not in sealed
    assert box.seal(secret, tenant, bot) != sealed  # a fresh nonce each time
    assert box.unseal(sealed, tenant, bot) == secret
    with pytest.raises(errors.ServiceError):
        box.unseal(sealed, tenant, uuid.uuid4())  # copied onto another chatbot
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(errors.ServiceError):
        box.unseal(tampered, tenant, bot)
    with pytest.raises(errors.ServiceError):
        SecretBox.from_settings("", secrets.token_urlsafe(48)).unseal(sealed, tenant, bot)  # another key


def test_secret_box_with_a_configured_key() -> None:
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    box = SecretBox.from_settings(key, "ignored-internal-secret")
    tenant, bot = uuid.uuid4(), uuid.uuid4()
    assert box.unseal(box.seal("vsk_x", tenant, bot), tenant, bot) == "vsk_x"
    with pytest.raises(ValueError, match="32 bytes"):
        SecretBox.from_settings("c2hvcnQ", "x")


def test_embed_snippet_is_one_async_script_tag() -> None:
    base = "https://cdn.example.com"
    embed_id = embed_ids.new_embed_id()
    assert embed_config.script_url(base) == "https://cdn.example.com/embed.js"
    assert embed_config.snippet(base, embed_id) == (
        f'<script async src="https://cdn.example.com/embed.js?id={embed_id}" data-embed-id="{embed_id}"></script>'
    )
    assert embed_config.public_url(base, "/models/abc.glb") == "https://cdn.example.com/models/abc.glb"
    assert embed_config.public_url(base, "https://other.example/a.glb") == "https://other.example/a.glb"
    assert embed_config.public_url(base, "//cdn.other.example/a.glb") == "//cdn.other.example/a.glb"
