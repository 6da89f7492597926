"""Running one data node: store, gRPC server, heartbeats, compaction and scrub, with a
graceful shutdown.

Start-up order: recover the store (torn tails, index, an interrupted compaction), load the
node id, bind and start the gRPC server, log "datanode listening on host:port", start
heartbeats and the background compaction and scrub loops (each if enabled in the config).
Shutdown on SIGTERM or SIGINT: stop heartbeats, stop accepting RPCs and let in-flight ones
finish within the grace period (the rest are cancelled; a cancelled write stores nothing),
stop compaction (a job is rolled back before its COPIED phase, finished from it) and scrub,
commit what the writer lanes hold, close the files and the index.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from collections.abc import Callable, Sequence

from cairn import ops_http, rpc
from cairn.datanode import compaction
from cairn.datanode.capacity import Usage, measure
from cairn.datanode.compaction import Compactor
from cairn.datanode.config import DataNodeConfig
from cairn.datanode.heartbeat import Heartbeater, HeartbeatSender, Identity, NodeIdFile
from cairn.datanode.metrics import NodeMetrics
from cairn.datanode.rpc_server import DataNodeServicer
from cairn.datanode.scrub import Scrubber
from cairn.datanode.shards import FailureDomain
from cairn.datanode.store import DiskShardStore

log = logging.getLogger("cairn.datanode")

SenderFactory = Callable[[Sequence[str]], HeartbeatSender]


def usage_of(config: DataNodeConfig, store: DiskShardStore) -> Usage:
    """The node's capacity and usage now (blocking)."""
    return measure(config.data_dir, store.used_bytes, config.capacity_bytes, config.reserve_bytes)


async def run_node(
    config: DataNodeConfig,
    sender_factory: SenderFactory | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until `stop` is set (or SIGTERM/SIGINT arrives), then shut down gracefully."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    config.data_dir.mkdir(parents=True, exist_ok=True)
    # the store refuses writes past this (its volumes' bytes); heartbeats report the measured figures
    limit = config.capacity_bytes or shutil.disk_usage(config.data_dir).total
    store = await DiskShardStore.open(config.data_dir, config.storage, limit, os.fsync)
    if store.recovered_rebuilt or store.recovered_truncated_bytes or store.recovered_quarantined:
        log.warning(
            "recovery: index rebuilt=%s, torn tail bytes truncated=%d, volumes quarantined=%s",
            store.recovered_rebuilt,
            store.recovered_truncated_bytes,
            store.recovered_quarantined,
        )
    if store.recovered_compaction is not None:
        job = store.recovered_compaction
        log.warning("recovery: compaction of volume %d settled: %s", job.source, job.outcome)
    compactor = Compactor(store, config.compaction, on_persisted=compaction.fault_hook(os.environ))
    scrubber = Scrubber(store, config.scrub)
    ids = NodeIdFile(config.data_dir / "node_id")
    labels = config.labels
    sender = sender_factory(config.placement) if sender_factory and config.placement else None
    heartbeater = Heartbeater(
        sender,
        ids,
        Identity(config.public_addr, labels.zone, labels.rack, labels.resolved_host()),
        lambda: usage_of(config, store).report(),
        config.heartbeat.interval_s,
        config.heartbeat.max_backoff_s,
        config.heartbeat.timeout_s,
        run_blocking=store.run_blocking,
        node_id=await store.run_blocking(ids.load),
    )
    server = rpc.server()
    servicer = DataNodeServicer(
        store,
        lambda: heartbeater.node_id,
        FailureDomain(labels.zone, labels.rack, labels.resolved_host()),
        max_concurrent_writes=config.max_concurrent_writes,
        compactor=compactor,
        scrubber=scrubber,
    )
    servicer.add_to_server(server)
    heartbeat_task: asyncio.Task[None] | None = None
    ops: ops_http.OpsServer | None = None
    try:
        port = rpc.bind(server, config.addr)
        await server.start()
        log.info("datanode listening on %s:%d", config.host, port)
        node_metrics = NodeMetrics(store, heartbeater, lambda: usage_of(config, store), compactor, scrubber)
        ops = await ops_http.start(config.host, config.ops_port, node_metrics.readiness, node_metrics.refresh)
        if sender is not None:
            heartbeat_task = asyncio.create_task(heartbeater.run(), name="datanode-heartbeat")
        else:
            log.info("no placement addresses configured; not sending heartbeats")
        if config.compaction.enabled:
            compactor.start()
        if config.scrub.enabled:
            await scrubber.start()
        await stop.wait()
        log.info("datanode stopping: draining in-flight requests (grace %.1fs)", config.shutdown_grace_s)
    finally:
        if ops is not None:
            await ops.stop()
        if heartbeat_task is not None:
            heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat_task
        await server.stop(config.shutdown_grace_s)
        await compactor.stop()
        await scrubber.stop()
        await store.close()
        if sender is not None:
            await sender.close()
        log.info("datanode stopped")
