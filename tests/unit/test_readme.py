"""The README is the user's reference: it must list every setting the spec accepts, and name the test command
that .ci/run runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from components.spec import ClusterSpec

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _section(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The model a field holds, directly, as an optional section or as a list of them ("[]")."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is list and args:
        model, _ = _section(args[0])
        return model, "[]"
    if len(args) == 1:
        return _section(args[0])
    return None, ""


def keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        section, suffix = _section(field.annotation)
        if section is not None:
            out.extend(keys(section, key + suffix + "."))  # a section: its keys are documented one by one
        else:
            out.append(key)
    return out


def test_every_setting_is_documented():
    missing = [k for k in keys(ClusterSpec) if f"`{k}`" not in README]
    assert not missing, f"README.md does not document: {missing}"


def test_ci_runs_the_readme_test_command():
    assert "make test" in README
    ci = (ROOT / ".ci" / "run").read_text().split("\n")
    commands = [line.strip() for line in ci if line.strip() and not line.lstrip().startswith("#")
                and not line.startswith(("set ", "cd "))]
    assert commands == ["make test"]
