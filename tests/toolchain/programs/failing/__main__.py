"""A program that fails the way its config says, to see how the failure reaches the user:
``provider-own`` / ``provider-other``: a dynamic resource's create raises the project's own exception or a
KeyError; ``program-own`` / ``program-other`` / ``program-runerror``: the program raises before registering
anything (the project's own exception, a ZeroDivisionError, ``pulumi.RunError``)."""

import pulumi
from pulumi.dynamic import Resource, ResourceProvider

from failures import StepFailed


class FailingProvider(ResourceProvider):
    def create(self, props):
        if props["fail"] == "provider-own":
            raise StepFailed("db9 did not start: port 3306 is taken")
        return {"host": "127.0.0.1"}["port"]


class Failing(Resource):
    def __init__(self, name, fail):
        super().__init__(FailingProvider(), name, {"fail": fail})


fail = pulumi.Config("toolchain").require("fail")
if fail == "program-own":
    raise StepFailed("the cluster needs at least one node")
if fail == "program-other":
    print(1 / 0)
if fail == "program-runerror":
    raise pulumi.RunError("invalid stack configuration:\nreplstack:database.nodes: 0 is below 1")
Failing("failing", fail)
