"""The engine environment protects the state: a random passphrase per state directory, in a file only its owner
reads, unless the operator gives one; the directory and everything in it the owner's only."""

from __future__ import annotations

import os
import stat
import subprocess


from tests.support.engine import PROJECT_DIR

ENGINE_ENV = PROJECT_DIR / "scripts" / "engine-env"


def engine_env(state_dir, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_CONFIG_PASSPHRASE")}
    out = subprocess.run([str(ENGINE_ENV)], env={**env, "REPLSTACK_STATE_DIR": str(state_dir), **extra},
                         check=True, capture_output=True, text=True)
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def test_each_state_directory_gets_its_own_random_passphrase_in_a_private_file(tmp_path):
    first, second = engine_env(tmp_path / "a"), engine_env(tmp_path / "b")
    assert "PULUMI_CONFIG_PASSPHRASE" not in first
    files = [first["PULUMI_CONFIG_PASSPHRASE_FILE"], second["PULUMI_CONFIG_PASSPHRASE_FILE"]]
    phrases = [open(f).read() for f in files]
    assert phrases[0] != phrases[1] and len(phrases[0]) >= 32 and "replstack-local" not in phrases
    for path in files:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert engine_env(tmp_path / "a")["PULUMI_CONFIG_PASSPHRASE_FILE"] == files[0]
    assert open(files[0]).read() == phrases[0], "the passphrase is made once"


def test_a_given_passphrase_is_kept_and_loose_state_is_tightened(tmp_path):
    state = tmp_path / "state"
    (state / ".pulumi" / "stacks" / "p").mkdir(parents=True)
    checkpoint = state / ".pulumi" / "stacks" / "p" / "s.json.bak"
    checkpoint.write_text("{}")
    os.chmod(checkpoint, 0o644)
    os.chmod(state, 0o755)
    env = engine_env(state, PULUMI_CONFIG_PASSPHRASE="given")
    assert env["PULUMI_CONFIG_PASSPHRASE"] == "given" and "PULUMI_CONFIG_PASSPHRASE_FILE" not in env
    assert stat.S_IMODE(checkpoint.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700


def test_state_made_with_the_old_default_keeps_opening_with_a_warning(tmp_path):
    state = tmp_path / "state"
    (state / ".pulumi" / "stacks" / "p").mkdir(parents=True)
    (state / ".pulumi" / "stacks" / "p" / "s.json").write_text("{}")
    proc = subprocess.run([str(ENGINE_ENV)], env={**{k: v for k, v in os.environ.items()
                                                     if not k.startswith("PULUMI_CONFIG_PASSPHRASE")},
                                                  "REPLSTACK_STATE_DIR": str(state)},
                          check=True, capture_output=True, text=True)
    assert "change-secrets-provider" in proc.stderr
    path = dict(line.split("=", 1) for line in proc.stdout.splitlines())["PULUMI_CONFIG_PASSPHRASE_FILE"]
    assert open(path).read() == "replstack-local"
