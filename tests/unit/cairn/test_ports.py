"""One table of default ports (cairn.ports): every service config and the Helm chart agree with it."""

from __future__ import annotations

from pathlib import Path

import yaml

from cairn import ports
from cairn.api_service.config import ApiConfig
from cairn.datanode.config import DataNodeConfig
from cairn.metadata.config import MetadataConfig
from cairn.placement.config import PlacementConfig

ROOT = Path(__file__).resolve().parents[3]


def test_service_defaults_come_from_the_table() -> None:
    assert PlacementConfig().port == ports.PLACEMENT
    assert MetadataConfig().port == ports.METADATA
    assert DataNodeConfig().port == ports.DATANODE
    api = ApiConfig()
    assert api.port == ports.S3
    assert api.metadata == f"127.0.0.1:{ports.METADATA}"
    assert api.placement == (f"127.0.0.1:{ports.PLACEMENT}",)


def test_helm_values_use_the_table() -> None:
    values = yaml.safe_load((ROOT / "helm" / "cairn" / "values.yaml").read_text())
    assert values["placement"]["port"] == ports.PLACEMENT
    assert values["metadata"]["port"] == ports.METADATA
    assert values["datanode"]["port"] == ports.DATANODE
    assert values["api"]["port"] == ports.S3
    assert values["metrics"]["port"] == ports.OPS


def test_the_ports_are_distinct() -> None:
    table = [ports.S3, ports.PLACEMENT, ports.METADATA, ports.DATANODE, ports.GC, ports.OPS]
    assert len(set(table)) == len(table)
