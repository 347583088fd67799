"""Generated passwords: made once, kept in state as Pulumi secrets, never printed."""

from __future__ import annotations

import secrets
import string
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, Resource

from components.dynamic import NO_ACTION, PlannedProvider, resource_options

# Letters and digits only: safe in every config syntax a password may have to appear in.
ALPHABET = string.ascii_letters + string.digits


class GeneratedPasswordProvider(PlannedProvider):
    compared = ("length",)
    replaced_by = ("length",)

    def plan(self, olds: dict[str, Any], news: dict[str, Any]) -> str:
        if not olds:
            return f"create: generate a {int(news['length'])}-character password, kept in state as a secret"
        if self.changes(olds, news):
            return f"replace: generate a new {int(news['length'])}-character password"
        return NO_ACTION

    def create(self, props: dict[str, Any]) -> CreateResult:
        value = "".join(secrets.choice(ALPHABET) for _ in range(int(props["length"])))
        return CreateResult(id_=secrets.token_hex(8), outs={**props, "value": value})


class GeneratedPassword(Resource, module="replstack/secrets", name="GeneratedPassword"):
    """A password made once and kept in state as a secret."""

    value: pulumi.Output[str]

    def __init__(self, name: str, length: int = 32, opts: pulumi.ResourceOptions | None = None):
        super().__init__(GeneratedPasswordProvider(), name, {"length": length, "value": None},
                         resource_options(opts, secret_outputs=["value"]))


def password(name: str, given: pulumi.Output[str] | None, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
    """The stack's own secret when it sets one, else a generated one."""
    if given is not None:
        return pulumi.Output.secret(given)
    return pulumi.Output.secret(GeneratedPassword(name, opts=opts).value)
