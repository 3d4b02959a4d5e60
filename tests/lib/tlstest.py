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


def check_versions_and_alpn(test, connect, context, alpn="http/1.1"):
    """What an operator checks of a TLS port: TLS 1.2 and 1.3 accepted, 1.1 and older refused,
    ALPN answering alpn to a client that prefers h2 (http/1.1 where no HTTP/2 is spoken). connect(name, ctx) opens a TLS
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
        test.assertEqual(s.selected_alpn_protocol(), alpn)


def make_stapled_certificate(directory, name):
    """A test CA, a certificate for name signed by it, and the CA's DER OCSP response saying
    that certificate is good: returns (certificate, key, OCSP response, CA certificate)."""
    def path(f):
        return os.path.join(directory, f"{name}-{f}")

    def openssl(*args):
        return subprocess.run(["openssl", *args], check=True, capture_output=True, text=True).stdout

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", path("ca.key"), "-out", path("ca.crt"), "-days", "2",
            "-subj", f"/CN={name} test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=keyCertSign,cRLSign,digitalSignature")
    openssl("req", *ec, "-keyout", path("key"), "-out", path("csr"), "-subj", f"/CN={name}")
    with open(path("ext"), "w") as f:
        f.write(f"subjectAltName=DNS:{name}\n")
    openssl("x509", "-req", "-in", path("csr"), "-CA", path("ca.crt"), "-CAkey", path("ca.key"),
            "-CAcreateserial", "-out", path("crt"), "-days", "2", "-extfile", path("ext"))
    serial = openssl("x509", "-in", path("crt"), "-noout", "-serial").strip().split("=")[1]
    # The responder's database: one valid certificate (the expiry is not checked when answering).
    with open(path("index.txt"), "w") as f:
        f.write(f"V\t991231235959Z\t\t{serial}\tunknown\t/CN={name}\n")
    openssl("ocsp", "-index", path("index.txt"), "-rsigner", path("ca.crt"), "-rkey", path("ca.key"),
            "-CA", path("ca.crt"), "-issuer", path("ca.crt"), "-cert", path("crt"),
            "-respout", path("ocsp.der"), "-ndays", "1")
    return path("crt"), path("key"), path("ocsp.der"), path("ca.crt")
