"""Lineage captured from the pipeline definitions themselves, while they register.

A recording registry sits in front of the Spark Connect registry: it notes every dataset that is
declared, and for every flow the relations its query reads (tables, streams of tables, files),
taken from the query plan the flow sends to the server — not from a hand-written list.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pyspark.pipelines.output import MaterializedView, StreamingTable, TemporaryView
from pyspark.pipelines.spark_connect_graph_element_registry import (
    SparkConnectGraphElementRegistry,
)

from clickstream import config

# Table references inside SQL text: STREAM(x), STREAM x, FROM x, JOIN x.
_SQL_TABLE = re.compile(
    r"\bSTREAM\s*\(\s*([`\w.]+)\s*\)|\bSTREAM\s+([`\w.]+)"
    r"|\b(?:FROM|JOIN)\s+(?!STREAM\b)([`\w.]+)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    flow: str
    streaming: bool


@dataclass
class Lineage:
    """Datasets of the registered graph (name -> kind) and the edges between them."""

    datasets: dict[str, str] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {"datasets": self.datasets, "edges": [asdict(e) for e in self.edges]}, indent=2
        )

    @classmethod
    def from_json(cls, text: str) -> Lineage:
        data = json.loads(text)
        return cls(data["datasets"], [Edge(**e) for e in data["edges"]])

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())


def _short(name: str) -> str:
    """Last part of a possibly qualified, possibly quoted name."""
    return name.replace("`", "").split(".")[-1]


def relations_read(relation: Any) -> list[tuple[str, bool]]:
    """(source, is_stream) for every table, stream or file source a plan reads."""
    found: list[tuple[str, bool]] = []

    def walk(message: Any) -> None:
        name = message.DESCRIPTOR.name
        if name == "Read":
            if message.HasField("named_table"):
                found.append(
                    (_short(message.named_table.unparsed_identifier), message.is_streaming)
                )
            elif message.HasField("data_source"):
                source = message.data_source
                if source.options.get(config.SECRET_READ_OPTION) == "true":
                    return  # a key file: configuration, not a source of the data
                paths = list(source.paths) or [source.options.get("path", "")]
                for path in paths:
                    found.append((f"files:{path}", message.is_streaming))
        elif name == "SQL":
            for match in _SQL_TABLE.finditer(message.query):
                stream_name = match.group(1) or match.group(2)
                found.append((_short(stream_name or match.group(3)), stream_name is not None))
        for descriptor, value in message.ListFields():
            if descriptor.type != descriptor.TYPE_MESSAGE:
                continue
            if descriptor.is_repeated:
                values = value.values() if hasattr(value, "values") else value
                for item in values:
                    if hasattr(item, "DESCRIPTOR"):
                        walk(item)
            else:
                walk(value)

    walk(relation)
    return list(dict.fromkeys(found))


class RecordingRegistry(SparkConnectGraphElementRegistry):
    """The Spark Connect registry, plus a record of datasets and the relations flows read."""

    def __init__(self, spark: Any, dataflow_graph_id: str) -> None:
        super().__init__(spark, dataflow_graph_id)
        self.lineage = Lineage()

    def register_output(self, output: Any) -> None:
        kind = {
            MaterializedView: "materialized_view",
            StreamingTable: "streaming_table",
            TemporaryView: "temporary_view",
        }.get(type(output), type(output).__name__.lower())
        self.lineage.datasets[_short(output.name)] = kind
        super().register_output(output)

    def register_flow(self, flow: Any) -> None:
        captured: dict[str, Any] = {}
        original = flow.func

        def recording_func() -> Any:
            frame = original()
            captured["frame"] = frame
            return frame

        super().register_flow(type(flow)(**{**flow.__dict__, "func": recording_func}))
        frame = captured.get("frame")
        if frame is None:
            return
        relation = frame._plan.plan(self._client)
        target = _short(flow.target)
        for source, streaming in relations_read(relation):
            self.lineage.edges.append(Edge(source, target, _short(flow.name), streaming))

    def register_auto_cdc_flow(self, flow: Any) -> None:
        super().register_auto_cdc_flow(flow)
        name = _short(flow.name or flow.target)
        self.lineage.edges.append(Edge(_short(flow.source), _short(flow.target), name, True))
