"""TLS on the server's port, configured by resalloc's server.yaml keys.

resalloc (v6) speaks TLS when `ssl_certfile` is set, with `ssl_keyfile` for
a key kept apart, and requires client certificates signed by `ssl_clients`
(CA certificates) when that is set too. lessor reads the same keys and serves
its whole port that way: XML-RPC, the API and the web UI. The files are
checked before the banner, so a wrong path or a key that does not match is
one line naming the key, not a traceback when the first client connects.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lessor.config.server import ServerConfig


@dataclass(frozen=True)
class Tls:
    certfile: Path
    keyfile: Path | None
    clients: Path | None
    """CA certificates that sign the clients' certificates; None: any client may connect."""

    def uvicorn_options(self) -> dict[str, Any]:
        """uvicorn.Config's keywords for serving this."""
        options: dict[str, Any] = {
            "ssl_certfile": str(self.certfile),
            "ssl_keyfile": str(self.keyfile) if self.keyfile else None,
        }
        if self.clients is not None:
            options["ssl_ca_certs"] = str(self.clients)
            options["ssl_cert_reqs"] = ssl.CERT_REQUIRED
        return options


def tls_of(cfg: ServerConfig) -> Tls | None:
    """The TLS to serve, or None for plain HTTP (no ssl_certfile, as resalloc)."""
    if cfg.ssl_certfile is None:
        return None
    return Tls(cfg.ssl_certfile, cfg.ssl_keyfile, cfg.ssl_clients)


def check_tls(cfg: ServerConfig, where: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """Errors and warnings about the TLS settings; the files are read, nothing is served."""
    tls = tls_of(cfg)
    if tls is None:
        ignored = [key for key in ("ssl_keyfile", "ssl_clients") if getattr(cfg, key)]
        return [], [
            f"{where.get(key, key)}: ssl_certfile is not set, so the server speaks plain "
            "HTTP and this is not used"
            for key in ignored
        ]
    try:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    except ssl.SSLError as e:  # pragma: no cover - the machine's OpenSSL itself
        return [f"TLS: {e}"], []
    cert_label = where.get("ssl_certfile", "ssl_certfile")
    try:
        context.load_cert_chain(tls.certfile, tls.keyfile)
    except ssl.SSLError as e:  # an OSError too: first
        what = "a certificate and its key" if tls.keyfile is None else "a certificate"
        keyed = f" matching the key in {tls.keyfile}" if tls.keyfile else ""
        return [f"{cert_label} {tls.certfile}: not {what} in PEM{keyed} ({e.reason})"], []
    except OSError as e:
        return [_unreadable(where, tls, e)], []
    if tls.clients is not None:
        label = where.get("ssl_clients", "ssl_clients")
        try:
            context.load_verify_locations(cafile=tls.clients)
        except ssl.SSLError as e:
            return [f"{label} {tls.clients}: not CA certificates in PEM ({e.reason})"], []
        except OSError as e:
            return [f"{label} {tls.clients}: cannot read: {e.strerror}"], []
    return [], []


def _unreadable(where: Mapping[str, str], tls: Tls, e: OSError) -> str:
    """Which of the two files could not be read (load_cert_chain does not say)."""
    key = "ssl_certfile"
    path = tls.certfile
    if tls.keyfile is not None and tls.certfile.is_file():
        try:
            tls.certfile.read_bytes()
        except OSError:
            pass
        else:
            key, path = "ssl_keyfile", tls.keyfile
    return f"{where.get(key, key)} {path}: cannot read: {e.strerror}"
