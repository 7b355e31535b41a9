"""Certificates for TLS Redis in the tests, made at test time with trustme: a private CA, a
server certificate for 127.0.0.1 and localhost signed by it, and a client certificate for
servers that ask for one. Nothing is taken from, or added to, the machine's trust store, so a
client trusts these servers only when told where the CA is (`ssl_ca_certs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import trustme

SERVER_NAMES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files of one private CA and the certificates it signed."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def client_options(self, *, client_cert: bool = False) -> dict[str, object]:
        """redis-py keyword arguments for a client that verifies the server against this CA
        (and, with `client_cert`, presents the client certificate)."""
        options: dict[str, object] = {"ssl": True, "ssl_ca_certs": str(self.ca_cert), "ssl_cert_reqs": "required"}
        if client_cert:
            options |= {"ssl_certfile": str(self.client_cert), "ssl_keyfile": str(self.client_key)}
        return options

    def url_query(self, *, client_cert: bool = False) -> str:
        """The same, as the query of a rediss:// URL (`ssl_ca_certs=/…/ca.pem&ssl_cert_reqs=required`)."""
        options = {name: value for name, value in self.client_options(client_cert=client_cert).items() if name != "ssl"}
        return urlencode(options, safe="/")

    def cli_arguments(self, *, client_cert: bool = False) -> list[str]:
        """The same, as redis-cli's options."""
        arguments = ["--tls", "--cacert", str(self.ca_cert)]
        if client_cert:
            arguments += ["--cert", str(self.client_cert), "--key", str(self.client_key)]
        return arguments


def make_tls_files(directory: Path) -> TlsFiles:
    """A new CA, a server certificate for 127.0.0.1/localhost and a client certificate, written to `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    authority = trustme.CA(organization_name="weatherstreams tests")
    server = authority.issue_cert(*SERVER_NAMES)
    client = authority.issue_cert("weatherstreams-test-client")
    files = TlsFiles(
        ca_cert=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
    )
    authority.cert_pem.write_to_path(str(files.ca_cert))
    server.cert_chain_pems[0].write_to_path(str(files.server_cert))
    server.private_key_pem.write_to_path(str(files.server_key))
    client.cert_chain_pems[0].write_to_path(str(files.client_cert))
    client.private_key_pem.write_to_path(str(files.client_key))
    return files
