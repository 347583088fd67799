"""A dynamic resource whose create does not finish on its own: it starts a detached process (in a session of
its own, as the local backend starts mariadbd), writes both pids to a file, then waits for a release file that
the tests never write. They kill the engine meanwhile."""

import json
import os
import subprocess
import time

import pulumi
from pulumi.dynamic import CreateResult, Resource, ResourceProvider


class BlockingProvider(ResourceProvider):
    def create(self, props):
        detached = subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
        partial = props["pids"] + ".partial"
        with open(partial, "w", encoding="utf-8") as out:
            json.dump({"provider": os.getpid(), "detached": detached.pid}, out)
        os.replace(partial, props["pids"])
        while not os.path.exists(props["release"]):
            time.sleep(0.1)
        return CreateResult(id_="blocker", outs=props)


class Blocker(Resource):
    def __init__(self, name, pids, release):
        super().__init__(BlockingProvider(), name, {"pids": pids, "release": release})


config = pulumi.Config("toolchain")
Blocker("blocker", config.require("pids"), config.require("release"))
