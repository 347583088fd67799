"""A one-resource Pulumi program: a dynamic resource whose provider records each call in a file, so a test can
see which provider operations the engine ran (through the language host and the dynamic-provider plugin)."""

import json
import os

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider


class JournalProvider(ResourceProvider):
    """Appends every operation to the journal file named by the resource's inputs."""

    def _log(self, props, op):
        with open(props["journal"], "a", encoding="utf-8") as journal:
            journal.write(json.dumps({"op": op, "pid": os.getpid()}) + "\n")

    def create(self, props):
        self._log(props, "create")
        return CreateResult(id_="journal", outs={**props, "doubled": props["value"] * 2})

    def diff(self, _id, olds, news):
        return DiffResult(changes=olds.get("value") != news.get("value"))

    def read(self, id_, props):
        self._log(props, "read")
        return ReadResult(id_=id_, outs=props)

    def delete(self, _id, props):
        self._log(props, "delete")


class Journal(Resource):
    doubled: pulumi.Output[int]

    def __init__(self, name, value, journal):
        super().__init__(JournalProvider(), name, {"value": value, "journal": journal, "doubled": None})


config = pulumi.Config()
journal = Journal("journal", config.require_int("value"), config.require("journal"))
pulumi.export("doubled", journal.doubled)
