"""Certificates for the TLS tests, made with the openssl command line."""
import os
import subprocess


def make_certificate(directory, name, tag=""):
    """A self-signed P-256 certificate for the DNS name `name`, as PEM files NAME[TAG].crt and
    NAME[TAG].key in directory; returns their paths."""
    base = os.path.join(directory, name + tag)
    crt, key = base + ".crt", base + ".key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName=DNS:{name}"], check=True, capture_output=True)
    return crt, key


def bundle(path, certificates):
    """Concatenates the PEM certificates into path: the trust store of a test client."""
    with open(path, "w") as f:
        for crt in certificates:
            with open(crt) as c:
                f.write(c.read())
    return path


def check_versions_and_alpn(test, connect, context):
    """What an operator checks of a TLS port: TLS 1.2 and 1.3 accepted, 1.1 and older refused,
    ALPN answering http/1.1 to a client that prefers h2. connect(name, ctx) opens a TLS
    connection; context(**attributes) makes a client context trusting the test's certificates."""
    import ssl
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        with connect("a.test", context(minimum_version=version, maximum_version=version)) as s:
            test.assertEqual(s.version(), version.name.replace("v1_", "v1."))
    # OpenSSL's security level may forbid the client to offer them at all: refused either way.
    ctx = context()
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pass
    with test.assertRaises((ssl.SSLError, ConnectionError)):
        connect("a.test", ctx)
    ctx = context()
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with connect("a.test", ctx) as s:
        test.assertEqual(s.selected_alpn_protocol(), "http/1.1")
