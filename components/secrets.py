"""Generated passwords: made once, kept in state as Pulumi secrets, never printed."""

from __future__ import annotations

import secrets
import string
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider

# Letters and digits only: safe in every config syntax a password may have to appear in.
ALPHABET = string.ascii_letters + string.digits


class GeneratedPasswordProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        value = "".join(secrets.choice(ALPHABET) for _ in range(int(props["length"])))
        return CreateResult(id_=secrets.token_hex(8), outs={"length": props["length"], "value": value})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = int(olds.get("length", 0)) != int(news["length"])
        return DiffResult(changes=changed, replaces=["length"] if changed else [])


class GeneratedPassword(Resource):
    value: pulumi.Output[str]

    def __init__(self, name: str, length: int = 32, opts: pulumi.ResourceOptions | None = None):
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["value"]))
        super().__init__(GeneratedPasswordProvider(), name, {"length": length, "value": None}, opts)


def password(name: str, given: pulumi.Output[str] | None, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
    """The stack's own secret when it sets one, else a generated one."""
    if given is not None:
        return pulumi.Output.secret(given)
    return pulumi.Output.secret(GeneratedPassword(name, opts=opts).value)
