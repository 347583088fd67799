"""A program whose preview does not end on its own, to interrupt it: with ``slow: program`` the program itself
waits (after its first resource) during a preview; with ``slow: provider`` the provider's check waits. Both
write ``marker`` first, and wait for a ``release`` file the tests never write. A create writes ``created``."""

import os
import time

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, Resource, ResourceProvider


def wait_for(path):
    while not os.path.exists(path):
        time.sleep(0.1)


class SlowProvider(ResourceProvider):
    def check(self, olds, news):
        if news["slow"] == "provider":
            with open(news["marker"], "w", encoding="utf-8"):
                pass
            wait_for(news["release"])
        return CheckResult(inputs=news, failures=[])

    def create(self, props):
        with open(props["created"], "a", encoding="utf-8") as out:
            out.write(props["name"] + "\n")
        return CreateResult(id_=props["name"], outs=props)


class Step(Resource):
    def __init__(self, name, props):
        super().__init__(SlowProvider(), name, {**props, "name": name})


config = pulumi.Config("toolchain")
props = {key: config.require(key) for key in ("slow", "marker", "release", "created")}
Step("first", props)
if props["slow"] == "program" and pulumi.runtime.is_dry_run():
    with open(props["marker"], "w", encoding="utf-8"):
        pass
    wait_for(props["release"])
Step("second", props)
