"""One typed client per data node address, shared by the workers and closed with the service."""

from __future__ import annotations

from cairn.datanode.client import DataNodeClient


class NodePool:
    def __init__(self) -> None:
        self._clients: dict[str, DataNodeClient] = {}

    def client(self, addr: str) -> DataNodeClient:
        found = self._clients.get(addr)
        if found is None:
            found = self._clients[addr] = DataNodeClient(addr)
        return found

    async def close(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.close()
