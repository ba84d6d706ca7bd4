"""The throwaway PostgreSQL of ``tests/integration/databases.py``, reachable from the cluster's hosts:
it also listens on the root namespace's address on the bridge and trusts the bridge's subnet."""

from __future__ import annotations

from ipaddress import IPv4Network
from pathlib import Path

from tests.integration.databases import PgCluster


class LanPostgres(PgCluster):
    def __init__(self, bindir: Path, address: str, subnet: IPv4Network) -> None:
        super().__init__(bindir)
        self.address = address
        self.subnet = subnet

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        with open(self.data / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {self.subnet} trust\n")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1,{self.address} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options, "-w", "start")

    def new_database(self) -> str:
        """A fresh database; its URL by the bridge address (what the Ray nodes reach)."""
        url = super().new_database()
        return url.replace("@127.0.0.1:", f"@{self.address}:")
