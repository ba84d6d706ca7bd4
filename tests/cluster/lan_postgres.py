"""The throwaway PostgreSQL of ``tests/integration/databases.py`` on a host of its own in the
cluster's network: its tools run inside that host's namespace, it listens on the host's address
and trusts the subnet, and it goes down with the namespace (so a killed run leaves no server
behind: the next run's :func:`tests.cluster.netns.reap_orphans` removes it)."""

from __future__ import annotations

from ipaddress import IPv4Network
from pathlib import Path

from tests.cluster.netns import Host
from tests.integration.databases import PgCluster


class LanPostgres(PgCluster):
    def __init__(self, bindir: Path, host: Host, subnet: IPv4Network) -> None:
        super().__init__(bindir)
        self.host = host
        self.subnet = subnet

    def _command(self, cmd: list[str]) -> list[str]:
        """Inside the database host's namespace."""
        return self.host.command(*cmd)

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        with open(self.data / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {self.subnet} trust\n")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1,{self.host.address} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options, "-w", "start")

    def new_database(self) -> str:
        """A fresh database; its URL by the database host's address (what the Ray nodes reach)."""
        url = super().new_database()
        return url.replace("@127.0.0.1:", f"@{self.host.address}:")
