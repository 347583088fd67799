"""A stand-in for a replstack cluster, for the policy pack's tests: database nodes with the resource type the
real local backend registers (``pulumi-python:dynamic/replstack/local:MariaDBServer``) and whatever
``read_only`` the test asks for, which the real spec never lets a stack set. Nothing runs: the provider only
records its inputs. It lets the tests show that the mandatory rules fail a preview naming the rule."""

import pulumi
from pulumi.dynamic import CreateResult, Resource, ResourceProvider


class RecordOnlyProvider(ResourceProvider):
    def create(self, props):
        return CreateResult(id_=props["service"], outs=props)


class MariaDBServer(Resource, module="replstack/local", name="MariaDBServer"):
    def __init__(self, name, read_only):
        super().__init__(RecordOnlyProvider(), name, {"service": name, "settings": {"read_only": str(read_only)}})


for index, read_only in enumerate(pulumi.Config().require_object("readOnly"), start=1):
    MariaDBServer(f"db{index}", read_only)
