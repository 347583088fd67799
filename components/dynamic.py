"""What every replstack dynamic resource shares: a type that names what it is, a diff that is safe during a
preview, and a planned action a DBA can read in ``pulumi preview --diff``.

Why a preview needs care: when a resource will change, the engine knows its new outputs only after the
change, so during a preview the inputs computed from them arrive here as ``pulumi.output.Unknown`` (a node's
generation while the node will restart, a placement's ports while it is being created). A provider that
iterates or compares them as plain values crashes the preview, and the preview is the pull-request gate. Every
provider therefore compares inputs only through ``changed_keys``, which counts a value it cannot know yet as a
change ("will be checked at apply time") and never raises.

Why ``plannedAction``: dynamic providers cannot return a detailed diff, but the engine shows every input that
changes. ``check`` stamps one input, ``plannedAction``, with what the update will do in words ("live: SET
GLOBAL max_connections = 1500", "restart: ..."); it is ``none`` when nothing is to be done, and ``diff`` never
looks at it, so a no-op preview stays empty.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, DiffResult, ResourceProvider
from pulumi.output import Unknown

PLANNED_ACTION = "plannedAction"
NO_ACTION = "none"

# Every replstack resource type lives under this module of the dynamic provider's package, e.g.
# ``pulumi-python:dynamic/replstack/local:MariaDBServer``.
TYPE_MODULE = "replstack"
# The type stacks made before resources were typed recorded for every dynamic resource; an alias to it lets
# such a stack preview, update and destroy with no replacement.
LEGACY_TYPE = "pulumi-python:dynamic:Resource"


def is_known(value: Any) -> bool:
    """Whether ``value`` holds no unknown part (lists and maps are searched)."""
    if isinstance(value, Unknown):
        return False
    if isinstance(value, Mapping):
        return all(is_known(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(is_known(v) for v in value)
    return True


def differs(old: Any, new: Any) -> bool:
    """True when ``new`` is not ``old``, or is not known yet (it may turn out to differ)."""
    return not is_known(new) or not is_known(old) or _plain(old) != _plain(new)


def changed_keys(olds: Mapping[str, Any], news: Mapping[str, Any], keys: Sequence[str]) -> list[str]:
    """The keys among ``keys`` whose value changes or cannot be known yet."""
    return [key for key in keys if differs(olds.get(key), news.get(key))]


def known_or(value: Any, default: Any) -> Any:
    """``value`` when it is fully known, else ``default``."""
    return value if is_known(value) else default


def _plain(value: Any) -> Any:
    """Numbers come back from state as floats (protobuf numbers): 3306.0 and 3306 are the same value."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def names(items: Sequence[str]) -> str:
    """``db2, db3`` for messages."""
    return ", ".join(items) if items else "(none)"


class PlannedProvider(ResourceProvider):
    """A dynamic provider whose ``check`` stamps the planned action and whose ``diff`` compares only the
    inputs that matter (``compared``), replacing the resource when one of ``replaced_by`` changes.

    Subclasses implement ``plan`` (the words, from old and new inputs; ``olds`` is empty for a create) and may
    implement ``refuse`` (inputs or changes that must not be applied, as check failures, so a preview fails
    naming the resource and the reason before anything is touched; ``olds`` is empty for a create) and ``drifted`` (a change seen only in the old outputs,
    e.g. a dead process that refresh found)."""

    compared: ClassVar[tuple[str, ...]] = ()
    replaced_by: ClassVar[tuple[str, ...]] = ()

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = self.refuse(olds, news)
        try:
            stamped = self.stamp(olds, news)
        except Exception:  # noqa: BLE001  (a host that cannot be looked at now: plan for the worst)
            stamped = self.stamp_unseen(olds, news)
        inputs = {**news, **stamped}
        try:
            inputs[PLANNED_ACTION] = self.plan(olds, news) if not failures else NO_ACTION
        except Exception as error:  # noqa: BLE001  (a preview never fails on a look at a live host)
            inputs[PLANNED_ACTION] = f"unknown: {_one_line(error)}; `up` tries and reports what it finds"
        return CheckResult(inputs, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = changed_keys(olds, news, self.compared)
        replaces = [key for key in changed if key in self.replaced_by]
        # A planned action counts when check just made it; the engine also diffs stored inputs against stored
        # outputs (a refresh does), where the last action is still recorded and means nothing new.
        planned = news.get(PLANNED_ACTION, NO_ACTION)
        fresh_plan = planned != NO_ACTION and planned != olds.get(PLANNED_ACTION)
        try:
            drifted = self.drifted(olds, news)
        except Exception:  # noqa: BLE001  (cannot look: report a change, the update finds out)
            drifted = True
        changes = bool(changed) or fresh_plan or drifted
        return DiffResult(changes=changes, replaces=replaces, delete_before_replace=True)

    # -- what subclasses say ----------------------------------------------------------------------------------
    def plan(self, olds: dict[str, Any], news: dict[str, Any]) -> str:
        return NO_ACTION

    def stamp(self, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        """Inputs computed at check time besides the planned action (e.g. a generation counter)."""
        return {}

    def stamp_unseen(self, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        """What ``stamp`` gives when the live service cannot be looked at (its host unreachable)."""
        return {}

    def refuse(self, olds: dict[str, Any], news: dict[str, Any]) -> list[CheckFailure]:
        return []

    def drifted(self, olds: dict[str, Any], news: dict[str, Any]) -> bool:
        return False

    def changes(self, olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
        """The compared keys that change (unknown values count), for ``plan``."""
        return changed_keys(olds, news, self.compared)


def resource_options(opts: pulumi.ResourceOptions | None, secret_outputs: Sequence[str] = (),
                     legacy: bool = True) -> pulumi.ResourceOptions:
    """The options every replstack dynamic resource adds: the alias to the untyped type of earlier versions
    (for resources that existed then), and the outputs that must stay secrets."""
    extra = pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=LEGACY_TYPE)] if legacy else None,
                                   additional_secret_outputs=list(secret_outputs))
    return pulumi.ResourceOptions.merge(opts, extra)
