import datetime as dt
import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from service.auth import keys
from service.auth.tokens import TokenService
from service.errors import Unauthenticated


@pytest.fixture
def rider_key_file(tmp_path):
    return keys.development_rider_key_file(tmp_path)


@pytest.fixture
def tokens(rider_key_file):
    return TokenService(
        access_secret="s" * 64,
        issuer="greenpoints",
        audience="greenpoints-api",
        ttl_s=900,
        rider_issuer="idp",
        rider_audience="greenpoints",
        rider_jwks=keys.public_jwks(keys.load_private_key(rider_key_file)),
        rider_signing_key_file=rider_key_file,
    )


def test_access_token_round_trip(tokens):
    token = tokens.issue_access_token(client_id="op_1", kind="operator", scopes=("trips:write",))
    principal = tokens.verify(token)
    assert principal.kind == "operator"
    assert principal.subject == "op_1"
    assert principal.scopes == {"trips:write"}


def test_expired_access_token_is_refused(tokens):
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    token = tokens.issue_access_token(
        client_id="op_1", kind="operator", scopes=("trips:write",), now=long_ago
    )
    with pytest.raises(Unauthenticated, match="expired"):
        tokens.verify(token)


def test_tampered_access_token_is_refused(tokens):
    token = tokens.issue_access_token(client_id="op_1", kind="operator", scopes=("trips:write",))
    header, _payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["scope"] = "admin"
    forged_payload = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    with pytest.raises(Unauthenticated):
        tokens.verify(f"{header}.{forged_payload}.{signature}")


def test_token_signed_with_another_secret_is_refused(tokens):
    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims = {"iss": "greenpoints", "aud": "greenpoints-api", "sub": "ad_1", "kind": "admin",
              "scope": "admin", "iat": now, "exp": now + 60}  # fmt: skip
    with pytest.raises(Unauthenticated):
        tokens.verify(
            jwt.encode(claims, "another secret, long enough for HS256", algorithm="HS256")
        )


def test_unsigned_token_is_refused(tokens):
    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims = {"iss": "greenpoints", "aud": "greenpoints-api", "sub": "ad_1", "kind": "admin",
              "scope": "admin", "iat": now, "exp": now + 60}  # fmt: skip
    with pytest.raises(Unauthenticated):
        tokens.verify(jwt.encode(claims, None, algorithm="none"))


def test_rider_token_round_trip_and_scope_is_only_account(tokens, rider_key_file):
    principal = tokens.verify(tokens.mint_rider_token("u-1093"))
    assert (principal.kind, principal.subject, principal.scopes) == ("rider", "u-1093", {"account"})

    # Even a correctly signed rider token claiming more gets the rider scope only.
    private = keys.load_private_key(rider_key_file)
    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims = {"iss": "idp", "aud": "greenpoints", "sub": "u-1", "scope": "account admin",
              "iat": now, "exp": now + 60}  # fmt: skip
    token = jwt.encode(
        claims, private, algorithm="ES256", headers={"kid": keys.key_id(private.public_key())}
    )
    assert tokens.verify(token).scopes == {"account"}


def _claims(**extra):
    now = int(dt.datetime.now(dt.UTC).timestamp())
    return {"iss": "idp", "aud": "greenpoints", "sub": "u-1", "iat": now, "exp": now + 60, **extra}


def test_rider_token_from_an_unknown_key_is_refused(tokens, rider_key_file):
    stranger = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(Unauthenticated, match="signing key"):
        tokens.verify(jwt.encode(_claims(), stranger, algorithm="ES256", headers={"kid": "nope"}))
    # Borrowing the real key's id does not help a token signed by another key.
    real_kid = keys.key_id(keys.load_private_key(rider_key_file).public_key())
    with pytest.raises(Unauthenticated, match="not valid"):
        tokens.verify(jwt.encode(_claims(), stranger, algorithm="ES256", headers={"kid": real_kid}))


def test_rider_token_signed_hs256_with_the_public_key_is_refused(tokens, rider_key_file):
    """Algorithm confusion: the public key used as an HMAC secret must not verify."""
    public_pem = (
        keys.load_private_key(rider_key_file)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    # PyJWT itself refuses to sign HS256 with a PEM key, so the forgery is built by hand.
    head = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = jwt.utils.base64url_encode(json.dumps(_claims()).encode())
    signing_input = head + b"." + body
    sig = jwt.utils.base64url_encode(hmac.new(public_pem, signing_input, hashlib.sha256).digest())
    with pytest.raises(Unauthenticated):
        tokens.verify((signing_input + b"." + sig).decode())


def test_garbage_and_foreign_issuers_are_refused(tokens):
    for token in ["", "abc", "a.b.c", jwt.encode({"iss": "elsewhere", "sub": "x"}, "k" * 32)]:
        with pytest.raises(Unauthenticated):
            tokens.verify(token)


def test_development_keys_are_created_once_and_private(tmp_path):
    first = keys.development_token_secret(tmp_path)
    assert keys.development_token_secret(tmp_path) == first
    assert (tmp_path / "token-signing.key").stat().st_mode & 0o077 == 0
    key_file = keys.development_rider_key_file(tmp_path)
    assert keys.development_rider_key_file(tmp_path) == key_file
    assert key_file.stat().st_mode & 0o077 == 0
