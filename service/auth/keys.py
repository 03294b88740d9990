"""Signing keys: configured ones in production, generated development keys otherwise.

Development keys are written once under the var directory with owner-only permissions. Creation
is atomic (write a temporary file, then hard-link it into place), so several worker processes
starting together all end up with the same key.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from hashlib import sha256
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm


def _write_once(path: Path, content: bytes) -> bytes:
    """Write ``content`` to ``path`` unless it exists; return what the file holds afterwards."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return path.read_bytes()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, content)
        os.fsync(fd)
        os.close(fd)
        with contextlib.suppress(FileExistsError):  # another process won the race
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_bytes()


def development_token_secret(var_dir: Path) -> str:
    """The HMAC secret for access tokens when ``TOKEN_SIGNING_KEY`` is not set."""
    raw = _write_once(var_dir / "token-signing.key", secrets.token_urlsafe(48).encode())
    return raw.decode().strip()


def development_rider_key_file(var_dir: Path) -> Path:
    """The development identity provider's EC P-256 private key (PEM), created if missing."""
    path = var_dir / "dev-rider-idp.pem"
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_once(path, pem)
    return path


def load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: expected an EC private key")
    return key


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """A stable key id: a digest of the public key (a JWK thumbprint in spirit)."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return sha256(der).hexdigest()[:16]


def public_jwks(private_key: ec.EllipticCurvePrivateKey) -> dict:
    """A JWKS document holding the public half of ``private_key``."""
    public = private_key.public_key()
    jwk = json.loads(ECAlgorithm.to_jwk(public))
    jwk.update({"kid": key_id(public), "use": "sig", "alg": "ES256"})
    return {"keys": [jwk]}
