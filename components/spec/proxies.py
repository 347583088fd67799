"""``replstack:proxies``: one entry per proxy service."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from components.spec.base import ProxyKind, _Model, _NAME
from components.spec.resources import DiskSpec, NetworkSpec, _disk_size_once


class ProxySpec(_Model):
    """One proxy service in front of the databases."""

    kind: ProxyKind
    name: str | None = Field(None, description="service name; default <kind><n>")
    ports: dict[str, int] = Field(default_factory=dict, description="fixed ports by listener name (e.g. write, "
                                  "read, stats); listeners not named get a free port")
    memory: int = Field(128, ge=32, le=1_048_576, description="MB")
    cores: int = Field(1, ge=1, le=256)
    disk_size: int = Field(20, alias="diskSize", ge=1, le=1_048_576, description="GB, for backends that size volumes")
    disk: DiskSpec = Field(default_factory=DiskSpec)
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    shards: int = Field(2, ge=1, le=64, description="shardproxy: shards of the sharded table (databases "
                        "replstack_shard1..N on the primary), one Spider server each")
    index_table: str = Field("replstack_search.documents", alias="indexTable", description="sphinx: the "
                             "<database>.<table> indexed (an unsigned integer id and the indexFields columns)")
    index_fields: list[str] = Field(default_factory=lambda: ["title", "body"], alias="indexFields",
                                    description="sphinx: the text columns indexed")

    @model_validator(mode="before")
    @classmethod
    def _disk_size_once(cls, data: Any) -> Any:
        return _disk_size_once(data)

    @field_validator("index_table")
    @classmethod
    def _table_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}\.[A-Za-z_][A-Za-z0-9_]{0,63}", value):
            raise ValueError(f"{value!r} is not <database>.<table>: letters, digits and '_', e.g. "
                             "replstack_search.documents")
        return value

    @field_validator("index_fields")
    @classmethod
    def _field_names(cls, value: list[str]) -> list[str]:
        bad = [f for f in value if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", f) or f.lower() == "id"]
        if not value or bad or len({f.lower() for f in value}) != len(value):
            raise ValueError(f"{value!r}: one or more distinct column names (letters, digits, '_'), not 'id'")
        return value

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str | None) -> str | None:
        if name is not None and not _NAME.match(name):
            raise ValueError(f"{name!r} is not a valid service name: lower-case letters, digits and '-', "
                             "starting with a letter, at most 31 characters")
        return name
