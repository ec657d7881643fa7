"""Checks of a provided certificate and key (``hosting.tls: provided``) before anything uses them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path


def check_certificate_pair(cert_path: Path, key_path: Path, fqdn: str | None) -> list[tuple[str, str]]:
    """A provided certificate must be one, match its key, name the site and be valid now.

    Apache's configtest does not read certificates: a bad one would only fail at the reload, and
    take the running server down with it. So it is refused here, before anything changes. Each
    problem is (field path, message).
    """
    from cryptography import x509  # imported here: only a provided certificate needs it
    from cryptography.hazmat.primitives import serialization

    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError:
        return [("hosting.tls_cert", f"{cert_path} is not a PEM certificate")]
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError):
        return [("hosting.tls_key", f"{key_path} is not an unencrypted PEM private key")]
    problems: list[tuple[str, str]] = []
    der, public = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(der, public) != cert.public_key().public_bytes(der, public):
        problems.append(("hosting.tls_key", f"{key_path} does not belong to the certificate {cert_path}"))
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    if fqdn and fqdn not in names:
        problems.append(("hosting.tls_cert", f"the certificate names {', '.join(names) or 'no DNS name'}, "
                                             f"not {fqdn}"))
    now = dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        problems.append(("hosting.tls_cert", f"the certificate is valid from {cert.not_valid_before_utc:%Y-%m-%d} "
                                             f"to {cert.not_valid_after_utc:%Y-%m-%d}, not now"))
    return problems
