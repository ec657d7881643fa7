#!/usr/bin/python
"""The self-signed certificates of many sites in one module call.

Three community.crypto modules per site (key, request, certificate) over 500 sites are 1,500
module runs. This module reads each site's files and makes only what is missing or wrong: an
ECC P-256 key (0600), a certificate request and a self-signed certificate (0644) for the site's
name and address, valid 825 days. A certificate is made anew when it does not belong to the key,
names another name or address, or expires within 30 days. Results per site in the shape of a
loop's results (module_utils/provisioner_batch).
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
    from cryptography import x509
    return [x509.DNSName(fqdn), x509.IPAddress(ipaddress.ip_address(ip))]


def certificate_is_right(cert, key, fqdn, ip, now) -> bool:
    """Whether a certificate belongs to the key, names just this name and address, and lasts."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    if cert is None or key is None:
        return False
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(serialization.Encoding.DER, public) != \
            key.public_key().public_bytes(serialization.Encoding.DER, public):
        return False
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    if set(names) != set(_names(fqdn, ip)):
        return False
    # not_valid_after_utc came with cryptography 42; Debian 12 has 38, whose datetime is naive UTC.
    expires = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(tzinfo=datetime.UTC)
    return expires - now > datetime.timedelta(days=RENEW_DAYS)


def _load_certificate(path):
    from cryptography import x509
    try:
        with open(path, "rb") as handle:
            return x509.load_pem_x509_certificate(handle.read())
    except (OSError, ValueError):
        return None


def _build(key, fqdn, ip, now):
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
                   .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
                   .add_extension(names, critical=False)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return request.public_bytes(pem), certificate.public_bytes(pem)


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


def ensure(item, now, check_mode) -> bool:
    """Make one site's key, request and certificate right; whether anything changed."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = _load_key(item["key"])
    fresh_key = key is None
    if fresh_key:
        key = ec.generate_private_key(ec.SECP256R1())
    cert_right = not fresh_key and certificate_is_right(_load_certificate(item["cert"]), key, item["fqdn"],
                                                        item["ip"], now)
    modes_right = not fresh_key and os.stat(item["key"]).st_mode & 0o777 == 0o600
    if cert_right and modes_right and os.path.exists(item["csr"]):
        return False
    if check_mode:
        return True
    os.makedirs(os.path.dirname(item["key"]), mode=0o700, exist_ok=True)
    if fresh_key:
        _write(item["key"], key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()), 0o600)
    else:
        os.chmod(item["key"], 0o600)
    if not cert_right or not os.path.exists(item["csr"]):
        request, certificate = _build(key, item["fqdn"], item["ip"], now)
        _write(item["csr"], request, 0o600)
        if not cert_right:
            _write(item["cert"], certificate, 0o644)
    return True


def main():
    module = AnsibleModule(argument_spec=ARGUMENTS, supports_check_mode=True)
    batch = Batch(module)
    try:
        import cryptography  # noqa: F401 (only to fail clearly when missing)
    except ImportError:
        module.fail_json(msg="provisioner_tls needs python3-cryptography on the web host")
    now = datetime.datetime.now(datetime.UTC)
    for item in module.params["items"]:
        if not all(item.get(k) for k in ("key", "csr", "cert", "fqdn", "ip")):
            batch.failed(item, f"TLS of {item.get('fqdn')}: needs key, csr, cert, fqdn and ip")
            continue
        try:
            batch.done(item, ensure(item, now, module.check_mode), fqdn=item["fqdn"])
        except (OSError, ValueError) as exc:
            batch.failed(item, f"TLS of {item['fqdn']}: {exc}", fqdn=item["fqdn"])
    batch.finish()


if __name__ == "__main__":
    main()
