"""A stand-in for a replstack cluster, for the policy pack's tests: resources with the types the real backends
register (``pulumi-python:dynamic/replstack/local:MariaDBServer``, ...) and whatever inputs the test asks for,
which the real spec never lets a stack produce (two writable nodes, a password in clear, an unpinned image, two
services on one port). Nothing runs: the provider only records its inputs.

Config (all optional):
- ``replstack:readOnly``: one database node per entry, ``db1``.., with that ``read_only`` setting;
- ``replstack:resources``: ``[{kind, name, module?, inputs, secrets?}]``: a resource of type
  ``replstack/<module>:<kind>`` (module ``local`` by default) with ``inputs``; the input keys listed in
  ``secrets`` are passed as Pulumi secrets;
- ``replstack:stackPolicy``: inputs of the real ``StackPolicy`` resource (components/stack_policy.py, linked
  into the project by the test), whose ``check`` stamps what a change removes.
"""

import types

import pulumi
from pulumi.dynamic import CreateResult, Resource, ResourceProvider, UpdateResult


class RecordOnlyProvider(ResourceProvider):
    def create(self, props):
        return CreateResult(id_=props.get("service", "standin"), outs=props)

    def update(self, _id, _olds, news):
        return UpdateResult(outs=news)


_CLASSES = {}


def typed(module, kind):
    """A dynamic resource class registering ``pulumi-python:dynamic/replstack/<module>:<kind>``."""
    key = (module, kind)
    if key not in _CLASSES:
        _CLASSES[key] = types.new_class(kind, (Resource,), {"module": f"replstack/{module}", "name": kind})
    return _CLASSES[key]


config = pulumi.Config()

for index, read_only in enumerate(config.get_object("readOnly") or [], start=1):
    name = f"db{index}"
    typed("local", "MariaDBServer")(RecordOnlyProvider(), name,
                                    {"service": name, "settings": {"read_only": str(read_only)}})

for entry in config.get_object("resources") or []:
    inputs = dict(entry.get("inputs") or {})
    for key in entry.get("secrets") or []:
        inputs[key] = pulumi.Output.secret(inputs[key])
    typed(entry.get("module", "local"), entry["kind"])(RecordOnlyProvider(), entry["name"],
                                                       {"service": entry["name"], **inputs})

stack_policy = config.get_object("stackPolicy")
if stack_policy is not None:
    from components.stack_policy import StackPolicy

    StackPolicy("stack-policy", stack_policy)
