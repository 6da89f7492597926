"""The placement client and servicer agree: every RPC of the contract, called through the typed
client against the real servicer in-process, returns the values the service holds, and every
domain error crosses the wire as its own class."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import grpc.aio
import pytest

from cairn.placement import rpc_server
from cairn.placement.client import ERRORS, PlacementClient
from cairn.placement.cluster_map import NodeAction, NodeState
from cairn.placement.config import PlacementConfig
from cairn.placement.errors import (
    AlreadyCreated,
    BadCommand,
    BadRequest,
    InsufficientDomains,
    LeaseHeld,
    LeaseLost,
    MapNotCreated,
    NodeHoldsData,
    NodeNotFound,
    NodeRemoved,
    PlacementError,
    StaleMigration,
)
from cairn.placement.service import PlacementService
from cairn.placement.state_machine import PlacementStateMachine
from cairn.proto import placement_pb2, placement_pb2_grpc
from cairn.replication import NoQuorum, NotLeader, ReplicaStatus, SingleNodeReplicator
from cairn.rpc import channel
from tests.support.rpc_contract import Recorder, recording_server, rpc_names

SERVICE = placement_pb2.DESCRIPTOR.services_by_name["Placement"]


async def serve(service: PlacementService, recorder: Recorder) -> tuple[grpc.aio.Server, str]:
    server = recording_server(recorder)
    rpc_server.add_to_server(server, service)
    addr = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    await server.start()
    service.peers[service.replicator.node_id] = addr
    return server, addr


@pytest.fixture
async def served() -> AsyncIterator[tuple[PlacementService, PlacementClient, Recorder]]:
    machine = PlacementStateMachine()
    config = PlacementConfig(k=2, m=1, pg_count=8, auto_create=False)
    service = PlacementService(config, machine, SingleNodeReplicator(machine, "p1"), {})
    recorder = Recorder()
    server, addr = await serve(service, recorder)
    client = PlacementClient([addr])
    yield service, client, recorder
    await client.close()
    await server.stop(None)


async def test_every_rpc_answers_through_the_typed_client(
    served: tuple[PlacementService, PlacementClient, Recorder],
) -> None:
    service, client, recorder = served
    replies = [
        await client.heartbeat(None, f"10.0.0.{i}:7001", f"z{i}", "r", f"h{i}", 1000, i) for i in range(4)
    ]
    assert [r.node_id for r in replies] == ["dn-0001", "dn-0002", "dn-0003", "dn-0004"]
    created = await client.create_cluster()
    drained = await client.node_command("dn-0002", NodeAction.DRAIN)
    assert drained == created + 1 == service.machine.epoch

    cmap = await client.cluster_map()
    assert cmap == service.cluster_map()  # every field, node state and PG row survives the wire
    assert cmap.nodes["dn-0002"].state is NodeState.DRAINING

    blob = b"\x01" * 16
    placed = await client.placement_of(blob)
    assert placed == service.placement_of(blob)

    (state,) = await client.replica_states()
    assert state == service.replica_state()
    assert (state.role, state.epoch, state.map_created, state.config_width) == ("leader", drained, True, 3)

    # the drain moved dn-0002's slots: the map names it as their holder until they are synced
    assert cmap.migrations and cmap.migrations == service.cluster_map().migrations
    work = await client.repair_work()
    assert work == service.repair_work() and work.pgs and not work.paused
    grant = await client.acquire_lease("gc-1", ttl_s=30)
    with pytest.raises(LeaseHeld):
        await client.acquire_lease("gc-2", ttl_s=30)
    first = work.pgs[0].slots[0]
    pg = work.pgs[0].pg
    synced = await client.slot_synced(pg, first.slot, first.target, first.since_epoch, grant.token)
    assert synced == drained + 1 and first.slot not in (await client.cluster_map()).migrations.get(pg, {})
    with pytest.raises(StaleMigration):
        await client.slot_synced(pg, first.slot, first.target, first.since_epoch, grant.token)
    await client.set_repair_paused(True)
    assert (await client.repair_work(limit=1)).paused and len((await client.repair_work(limit=1)).pgs) == 1
    with pytest.raises(NodeHoldsData):
        await client.node_command("dn-0002", NodeAction.REMOVE)
    await client.release_lease("gc-1", grant.token)
    with pytest.raises(LeaseLost):
        await client.slot_synced(pg, first.slot, first.target, first.since_epoch, grant.token)
    assert (await client.acquire_lease("gc-2", ttl_s=30)).token == grant.token + 1

    assert recorder.served == rpc_names(SERVICE)


class Refusing(PlacementService):
    """A service whose node commands fail with a chosen error."""

    error: Exception = RuntimeError()

    async def node_command(self, node_id: str, action: NodeAction, force: bool = False) -> int:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        NodeNotFound("node 'dn-0404' is unknown"),
        NodeRemoved("node dn-0004 was removed from the cluster"),
        AlreadyCreated("the cluster map already exists (8 PGs)"),
        InsufficientDomains("cannot create the cluster map: 2 failure domain(s)"),
        MapNotCreated("the cluster map has no placement groups yet"),
        BadCommand("malformed command"),
        BadRequest("need a node id and an action"),
        NodeHoldsData("node dn-0004 still holds the data of 3 PG slot(s)"),
        LeaseHeld("the lease is held by gc-1"),
        LeaseLost("lease token 3 is not the current one"),
        StaleMigration("slot 1/2 has no pending migration"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_every_refusal_crosses_the_wire_as_its_own_class(error: PlacementError) -> None:
    machine = PlacementStateMachine()
    service = Refusing(
        PlacementConfig(k=2, m=1, pg_count=8), machine, SingleNodeReplicator(machine, "p1"), {}
    )
    service.error = error
    server, addr = await serve(service, Recorder())
    client = PlacementClient([addr])
    try:
        with pytest.raises(type(error)) as raised:
            await client.node_command("dn-0004", NodeAction.OUT)
        assert type(raised.value) is type(error) and str(raised.value) == str(error)
        assert raised.value.reason == type(error).__name__
    finally:
        await client.close()
        await server.stop(None)


class Following(SingleNodeReplicator):
    """A follower's replicator: replica "p2", whose leader is "p1"."""

    def status(self) -> ReplicaStatus:
        return ReplicaStatus("p2", 1, "follower", "p1", 0, 0, ())

    async def propose(self, command: bytes, timeout: float) -> bytes:
        raise NotLeader("p1", None)


async def test_not_leader_crosses_the_wire_with_the_leaders_address(
    served: tuple[PlacementService, PlacementClient, Recorder],
) -> None:
    leader, _, _ = served
    leader_addr = leader.peers["p1"]
    machine = PlacementStateMachine()
    follower = PlacementService(
        PlacementConfig(k=2, m=1, pg_count=8), machine, Following(machine, "p2"), {"p1": leader_addr}
    )
    server, follower_addr = await serve(follower, Recorder())
    ch = channel(follower_addr)
    client = PlacementClient([follower_addr])  # knows only the follower
    try:
        with pytest.raises(NotLeader) as refused, ERRORS.translated():
            await placement_pb2_grpc.PlacementStub(ch).CreateCluster(placement_pb2.CreateClusterRequest())
        assert refused.value.leader_addr == leader_addr
        reply = await client.heartbeat(None, "10.0.0.1:7001", "z", "r", "h", 1000, 0)
        assert reply.node_id in leader.cluster_map().nodes  # it followed the hint to the leader
    finally:
        await client.close()
        await ch.close()
        await server.stop(None)


def test_the_error_table_codes() -> None:
    codes = {
        cls.__name__: ERRORS.code_of(cls("x")) for cls in (NodeNotFound, BadRequest, NodeRemoved, NoQuorum)
    }
    assert codes == {
        "NodeNotFound": grpc.StatusCode.NOT_FOUND,
        "BadRequest": grpc.StatusCode.INVALID_ARGUMENT,
        "NodeRemoved": grpc.StatusCode.FAILED_PRECONDITION,
        "NoQuorum": grpc.StatusCode.UNAVAILABLE,
    }
