#!/usr/bin/python
"""The TLS keys and certificates of many sites in one module call.

Three community.crypto modules per site (key, request, certificate) over 500 sites are 1,500
module runs. This module reads each site's files and makes only what is missing or wrong: an
ECC P-256 key (0600), a certificate request and a self-signed certificate (0644) for the site's
name and address, valid 825 days. A certificate is made anew when it does not belong to the key,
names another name or address, or expires within 30 days. Results per site in the shape of a
loop's results (module_utils/provisioner_batch).

An item with ``acme: true`` is a site whose certificate comes from an ACME CA (role
acme_certificate): its request names the site's name only (CAs refuse addresses), a short-lived
self-signed stand-in is written only while no certificate of its key exists (so Apache can start
before the CA has answered), and the result says whether the CA must be asked (``needs_order``:
no certificate of the CA's, another name, or expiring within ``renew_days``) with the request.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.provisioner_batch import ARGUMENTS, Batch

DOCUMENTATION = r"""
module: provisioner_tls
short_description: Ensure many self-signed TLS keys and certificates at once
description:
  - Each item's key, request and certificate are written only when missing or wrong. Check mode
    reports what would change. Needs python3-cryptography on the web host.
options:
  loop_var: {description: Name under which each result carries its site., type: str, default: item}
  items:
    description: Each has site (passed back), key, csr and cert (paths), fqdn and ip.
    type: list
    elements: dict
    required: true
"""

VALID_DAYS = 825
RENEW_DAYS = 30
STAND_IN_DAYS = 7


def _load_key(path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    try:
        with open(path, "rb") as handle:
            key = serialization.load_pem_private_key(handle.read(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        return None
    return key


def _names(fqdn, ip):
    """The names a certificate carries: the site's name, and its address unless from a CA (ip None)."""
    from cryptography import x509
    return [x509.DNSName(fqdn)] + ([x509.IPAddress(ipaddress.ip_address(ip))] if ip else [])


def _expires(cert):
    # not_valid_after_utc came with cryptography 42; Debian 12 has 38, whose datetime is naive UTC.
    return getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(tzinfo=datetime.UTC)


def _same_key(public_key, key) -> bool:
    from cryptography.hazmat.primitives import serialization
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return public_key.public_bytes(der, spki) == key.public_key().public_bytes(der, spki)


def _san(thing):
    from cryptography import x509
    try:
        return set(thing.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return set()


def certificate_is_right(cert, key, fqdn, ip, now, renew_days=RENEW_DAYS) -> bool:
    """Whether a certificate belongs to the key, names just this name (and address), and lasts."""
    if cert is None or key is None or not _same_key(cert.public_key(), key):
        return False
    if _san(cert) != set(_names(fqdn, ip)):
        return False
    return _expires(cert) - now > datetime.timedelta(days=renew_days)


def _request_is_right(path, key, fqdn, ip) -> bool:
    from cryptography import x509
    try:
        with open(path, "rb") as handle:
            request = x509.load_pem_x509_csr(handle.read())
    except (OSError, ValueError):
        return False
    return key is not None and _same_key(request.public_key(), key) and _san(request) == set(_names(fqdn, ip))


def _load_certificate(path):
    from cryptography import x509
    try:
        with open(path, "rb") as handle:
            return x509.load_pem_x509_certificate(handle.read())
    except (OSError, ValueError):
        return None


def _build(key, fqdn, ip, now, days=VALID_DAYS):
    """(request PEM, certificate PEM) for a site."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, fqdn)])
    names = x509.SubjectAlternativeName(_names(fqdn, ip))
    request = (x509.CertificateSigningRequestBuilder().subject_name(subject)
               .add_extension(names, critical=False).sign(key, hashes.SHA256()))
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=days))
                   .add_extension(names, critical=False)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return request.public_bytes(pem), certificate.public_bytes(pem)


def _read(path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _write(path, data, mode):
    """Write a file by a rename in its folder: a reader sees the old content or the new."""
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tls.")
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _key(item):
    """(key, whether it is new): the site's key, or a new one when missing or not ours."""
    from cryptography.hazmat.primitives.asymmetric import ec
    key = _load_key(item["key"])
    return (key, False) if key is not None else (ec.generate_private_key(ec.SECP256R1()), True)


def _write_key(item, key, fresh_key):
    from cryptography.hazmat.primitives import serialization
    os.makedirs(os.path.dirname(item["key"]), mode=0o700, exist_ok=True)
    if fresh_key:
        _write(item["key"], key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()), 0o600)
    else:
        os.chmod(item["key"], 0o600)


def _mode_right(item, fresh_key) -> bool:
    return not fresh_key and os.stat(item["key"]).st_mode & 0o777 == 0o600


def ensure(item, now, check_mode) -> bool:
    """Make one self-signed site's key, request and certificate right; whether anything changed."""
    key, fresh_key = _key(item)
    cert_right = not fresh_key and certificate_is_right(_load_certificate(item["cert"]), key, item["fqdn"],
                                                        item["ip"], now)
    if cert_right and _mode_right(item, fresh_key) and os.path.exists(item["csr"]):
        return False
    if check_mode:
        return True
    _write_key(item, key, fresh_key)
    if not cert_right or not os.path.exists(item["csr"]):
        request, certificate = _build(key, item["fqdn"], item["ip"], now)
        _write(item["csr"], request, 0o600)
        if not cert_right:
            _write(item["cert"], certificate, 0o644)
    return True


def ensure_acme(item, now, check_mode):
    """An ACME site's key and request, and a stand-in while it has no certificate of its key.

    (changed, needs_order, request PEM or "").
    """
    key, fresh_key = _key(item)
    cert = None if fresh_key else _load_certificate(item["cert"])
    ours = cert is not None and _same_key(cert.public_key(), key)
    from_ca = ours and cert.issuer != cert.subject
    renew_days = int(item.get("renew_days") or RENEW_DAYS)
    needs_order = not (from_ca and certificate_is_right(cert, key, item["fqdn"], None, now, renew_days))
    request_right = not fresh_key and _request_is_right(item["csr"], key, item["fqdn"], None)
    changed = fresh_key or not ours or not request_right or not _mode_right(item, fresh_key)
    if not changed or check_mode:
        return changed, needs_order, _read(item["csr"]).decode() if request_right else ""
    _write_key(item, key, fresh_key)
    request, stand_in = _build(key, item["fqdn"], None, now, days=STAND_IN_DAYS)
    if request_right:
        request = _read(item["csr"])
    else:
        _write(item["csr"], request, 0o644)
    if not ours:
        _write(item["cert"], stand_in, 0o644)
    return True, needs_order, request.decode()


def main():
    module = AnsibleModule(argument_spec=ARGUMENTS, supports_check_mode=True)
    batch = Batch(module)
    try:
        import cryptography  # noqa: F401 (only to fail clearly when missing)
    except ImportError:
        module.fail_json(msg="provisioner_tls needs python3-cryptography on the web host")
    now = datetime.datetime.now(datetime.UTC)
    for item in module.params["items"]:
        if not all(item.get(k) for k in ("key", "csr", "cert", "fqdn", *(() if item.get("acme") else ("ip",)))):
            batch.failed(item, f"TLS of {item.get('fqdn')}: needs key, csr, cert, fqdn and ip (but with acme)")
            continue
        try:
            if item.get("acme"):
                changed, needs_order, request = ensure_acme(item, now, module.check_mode)
                batch.done(item, changed, fqdn=item["fqdn"], needs_order=needs_order, csr=request)
            else:
                batch.done(item, ensure(item, now, module.check_mode), fqdn=item["fqdn"])
        except (OSError, ValueError) as exc:
            batch.failed(item, f"TLS of {item['fqdn']}: {exc}", fqdn=item["fqdn"])
    batch.finish()


if __name__ == "__main__":
    main()
