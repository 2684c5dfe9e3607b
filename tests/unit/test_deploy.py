"""The deployment files say what the operators' docs promise: Dockerfile, compose, systemd."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
UNIT = DEPLOY / "systemd" / "newsdrop.service"
ENV_EXAMPLE = DEPLOY / "systemd" / "newsdrop.env.example"
DATA_DIR = "/var/lib/newsdrop"
MAX_EXPOSURE = 2.0


# ------------------------------------------------------------------------------ Dockerfile


@dataclass(frozen=True)
class Instruction:
    stage: int
    keyword: str
    args: str


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Instruction]]:
    """Global ARG defaults and the instructions, continuation lines joined, comments dropped."""
    instructions: list[Instruction] = []
    global_args: dict[str, str] = {}
    stage = -1
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical = (pending + line).strip()
        pending = ""
        keyword, _, args = logical.partition(" ")
        keyword = keyword.upper()
        args = " ".join(args.split())
        if keyword == "FROM":
            stage += 1
        if keyword == "ARG" and stage == -1:
            name, _, default = args.partition("=")
            global_args[name] = default
        instructions.append(Instruction(stage, keyword, args))
    assert not pending, "the Dockerfile ends inside a continuation line"
    return global_args, instructions


def env_pairs(args: str) -> dict[str, str]:
    """ENV key=value pairs (the form this Dockerfile uses; values carry no spaces)."""
    pairs = dict(item.split("=", 1) for item in args.split())
    return {key: value.strip('"') for key, value in pairs.items()}


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Instruction]]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def _final(instructions: list[Instruction]) -> list[Instruction]:
    last = max(i.stage for i in instructions)
    return [i for i in instructions if i.stage == last]


def _only(instructions: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in instructions if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {len(found)}"
    return found[0]


def test_dockerfile_is_multi_stage_on_slim_python(
    dockerfile: tuple[dict[str, str], list[Instruction]],
) -> None:
    global_args, instructions = dockerfile
    froms = [i.args for i in instructions if i.keyword == "FROM"]
    assert len(froms) >= 2
    assert froms[0].endswith(" AS builder")
    for line in froms:
        image = line.split()[0]
        for name, default in global_args.items():
            image = image.replace("${" + name + "}", default)
        assert re.fullmatch(r"python:3\.1[12]-slim(-\w+)?", image), image
    copies = [i.args for i in _final(instructions) if i.keyword == "COPY"]
    assert any(c.startswith("--from=builder ") for c in copies)


def test_dependencies_are_installed_before_the_source_is_copied(
    dockerfile: tuple[dict[str, str], list[Instruction]],
) -> None:
    _, instructions = dockerfile
    builder = [i for i in instructions if i.stage == 0]
    position = {
        "pyproject": next(n for n, i in enumerate(builder) if i.args.startswith("pyproject.toml")),
        "deps": next(n for n, i in enumerate(builder) if "pip install -r" in i.args),
        "source": next(n for n, i in enumerate(builder) if i.args.startswith("service ")),
    }
    assert position["pyproject"] < position["deps"] < position["source"]


def test_no_embedded_extra_anywhere_in_the_image(
    dockerfile: tuple[dict[str, str], list[Instruction]],
) -> None:
    _, instructions = dockerfile
    for instruction in instructions:
        if instruction.keyword == "RUN":
            assert "embedded" not in instruction.args
            assert not re.search(r"\S\[\w", instruction.args), "no extras: pip install ."


def test_runtime_runs_as_a_numeric_non_root_user(
    dockerfile: tuple[dict[str, str], list[Instruction]],
) -> None:
    _, instructions = dockerfile
    final = _final(instructions)
    users = [i.args for i in final if i.keyword == "USER"]
    assert users, "the runtime stage sets USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit(), "numeric, so Kubernetes' runAsNonRoot can check it"
    assert gid.isdigit()
    assert int(uid) > 0
    assert int(gid) > 0
    # Nothing after USER runs as root again.
    after = final[max(n for n, i in enumerate(final) if i.keyword == "USER") :]
    assert not [i for i in after if i.keyword == "RUN"]


def test_runtime_environment_volume_signal_and_entrypoint(
    dockerfile: tuple[dict[str, str], list[Instruction]],
) -> None:
    _, instructions = dockerfile
    final = _final(instructions)
    env: dict[str, str] = {}
    for instruction in final:
        if instruction.keyword == "ENV":
            env.update(env_pairs(instruction.args))
    assert env["NEWSDROP_DATA_DIR"] == DATA_DIR
    assert env["NEWSDROP_HTTP_HOST"] == "0.0.0.0"
    assert env["NEWSDROP_LOG_FORMAT"] == "json"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert "NEWSDROP_DATABASE_URL" not in env
    assert json.loads(_only(final, "VOLUME").args) == [DATA_DIR]
    assert _only(final, "STOPSIGNAL").args == "SIGTERM"
    assert _only(final, "EXPOSE").args == "8080"
    assert json.loads(_only(final, "ENTRYPOINT").args) == ["newsdrop"]
    assert json.loads(_only(final, "CMD").args) == ["run"]


def test_build_context_holds_what_copy_needs(
    dockerfile: tuple[dict[str, str], list[Instruction]],
) -> None:
    _, instructions = dockerfile
    rules = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    # Allow-list: everything (.git, venvs, tests, state dirs, deploy/secrets) is out ...
    assert rules[0] == "*"
    included = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert included <= {"pyproject.toml", "README.md", "service"}
    assert "**/__pycache__" in rules
    # ... except what COPY takes from the context, which must exist.
    for instruction in instructions:
        if instruction.keyword != "COPY" or instruction.args.startswith("--from="):
            continue
        sources = [s for s in instruction.args.split()[:-1] if not s.startswith("--")]
        for source in sources:
            assert source.rstrip("/") in included, f"{source} is excluded by .dockerignore"
            assert (ROOT / source).exists(), f"COPY {source}: missing from the repository"


class _Health(BaseHTTPRequestHandler):
    code = 200

    def do_GET(self) -> None:
        self.send_response(self.code if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _healthcheck_argv(instructions: list[Instruction]) -> list[str]:
    args = _only(_final(instructions), "HEALTHCHECK").args
    assert " CMD [" in args, "exec form: the slim image has no curl, python does the check"
    argv: list[str] = json.loads(args.split(" CMD ", 1)[1])
    assert argv[:2] == ["python", "-c"]
    assert "urllib" in argv[2]
    assert "http://127.0.0.1:" in argv[2]
    assert "/healthz" in argv[2]
    return [sys.executable, *argv[1:]]


@pytest.mark.parametrize(("code", "healthy"), [(200, True), (503, False)])
def test_healthcheck_command_really_checks_healthz(
    dockerfile: tuple[dict[str, str], list[Instruction]],
    health_server: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    healthy: bool,
) -> None:
    monkeypatch.setattr(_Health, "code", code)
    env = {
        **os.environ,
        "NEWSDROP_HTTP_PORT": str(health_server.server_address[1]),
        # A proxy in the environment must not swallow the loopback check.
        "http_proxy": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
    }
    argv = _healthcheck_argv(dockerfile[1])
    result = subprocess.run(argv, env=env, capture_output=True, timeout=30)
    assert (result.returncode == 0) is healthy, result.stderr.decode()


def test_healthcheck_fails_when_nothing_listens(
    dockerfile: tuple[dict[str, str], list[Instruction]],
) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Health)
    port = server.server_address[1]
    server.server_close()
    env = {**os.environ, "NEWSDROP_HTTP_PORT": str(port)}
    result = subprocess.run(
        _healthcheck_argv(dockerfile[1]), env=env, capture_output=True, timeout=30
    )
    assert result.returncode != 0


# --------------------------------------------------------------------------------- compose


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def _seconds(duration: str | int) -> float:
    """A compose duration such as 30s, 1m30s or 1500ms."""
    if isinstance(duration, int):
        return float(duration)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert "".join(n + u for n, u in parts) == duration, f"unparsed duration {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _mounts(service: dict[str, Any]) -> list[dict[str, str]]:
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
            kind = "bind" if source.startswith((".", "/", "$", "~")) else "volume"
            mounts.append({"type": kind, "source": source, "target": target})
        else:
            mounts.append(volume)
    return mounts


def test_postgres_service(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    env = _environment(postgres)
    assert env["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert "postgres_password" in postgres["secrets"]
    (data,) = _mounts(postgres)
    assert data["type"] == "volume"
    assert data["source"] in compose["volumes"]
    assert data["target"] == "/var/lib/postgresql/data"
    assert "ports" not in postgres, "the database is reachable on the compose network only"


def test_newsdrop_service(compose: dict[str, Any]) -> None:
    newsdrop = compose["services"]["newsdrop"]
    assert (COMPOSE.parent / newsdrop["build"]["context"]).resolve() == ROOT
    assert (ROOT / newsdrop["build"].get("dockerfile", "Dockerfile")).is_file()
    assert newsdrop["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert newsdrop["restart"] == "unless-stopped"
    assert _seconds(newsdrop["stop_grace_period"]) > 10
    assert "newsdrop_database_url" in newsdrop["secrets"]
    assert newsdrop["ports"] == ["127.0.0.1:8080:8080"]
    # 0.0.0.0 is the image's business, inside the container; compose keeps it.
    assert "NEWSDROP_HTTP_HOST" not in _environment(newsdrop)
    user = re.sub(r"\$\{\w+:-(\d+)\}", r"\1", newsdrop["user"])
    assert all(part.isdigit() and int(part) > 0 for part in user.split(":"))


def test_whole_data_dir_is_one_bind_mount(compose: dict[str, Any]) -> None:
    """inbox/ and the other folders share one file system: link/rename is EXDEV across mounts."""
    newsdrop = compose["services"]["newsdrop"]
    mounts = [m for m in _mounts(newsdrop) if m["target"].startswith(DATA_DIR)]
    assert len(mounts) == 1, "one mount for the data dir, none for its subfolders"
    (data,) = mounts
    assert data["type"] == "bind"
    assert data["target"] == DATA_DIR


def test_secrets_come_from_files_never_literals(compose: dict[str, Any]) -> None:
    secrets = compose["secrets"]
    assert set(secrets) == {"postgres_password", "newsdrop_database_url"}
    for secret in secrets.values():
        assert set(secret) == {"file"}
        assert secret["file"].startswith("./secrets/")
    for name, service in compose["services"].items():
        for key, value in _environment(service).items():
            assert "PASSWORD" not in key or key.endswith("_FILE"), f"{name}: {key}"
            assert key != "NEWSDROP_DATABASE_URL", f"{name}: the URL is a secret"
            assert not re.search(r"://[^/\s]*@", value), f"{name}: credentials in {key}"
    assert "postgresql://" not in COMPOSE.read_text(encoding="utf-8")


def test_secret_files_are_ignored_by_git(compose: dict[str, Any]) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    inside = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--is-inside-work-tree"], capture_output=True
    )
    if inside.returncode != 0:
        pytest.skip("not a git work tree")

    def ignored(path: Path) -> bool:
        check = ["git", "-C", str(ROOT), "check-ignore", "-q", "--no-index", str(path)]
        return subprocess.run(check).returncode == 0

    for secret in compose["secrets"].values():
        assert ignored(COMPOSE.parent / secret["file"]), secret["file"]
    assert not ignored(DEPLOY / "secrets" / "README.md")
    assert not ignored(DEPLOY / "secrets" / ".gitignore")


# --------------------------------------------------------------------------------- systemd


def parse_unit(text: str) -> dict[str, list[str]]:
    """`Section.Key` -> every value it is given, in order (systemd's lists accumulate)."""
    values: dict[str, list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        values.setdefault(f"{section}.{key}", []).append(value)
    return values


@pytest.fixture(scope="module")
def unit() -> dict[str, str]:
    return {k: v[-1] for k, v in parse_unit(UNIT.read_text(encoding="utf-8")).items()}


def test_unit_lifecycle_settings(unit: dict[str, str]) -> None:
    expected = {
        "Service.Type": "notify",
        "Service.NotifyAccess": "main",
        "Service.WatchdogSec": "30",
        "Service.Restart": "on-failure",
        "Service.RestartSec": "5",
        "Service.KillSignal": "SIGTERM",
        "Service.DynamicUser": "yes",
        "Service.StateDirectory": "newsdrop",
        "Service.EnvironmentFile": "-/etc/newsdrop/newsdrop.env",
        "Service.Environment": "NEWSDROP_SECRETS_DIR=%d",
        "Service.LoadCredential": "newsdrop_database_url",
        "Install.WantedBy": "multi-user.target",
    }
    assert {key: unit.get(key) for key in expected} == expected
    assert int(unit["Service.TimeoutStopSec"]) > 10
    assert unit["Service.ExecStart"].split() == ["/opt/newsdrop/venv/bin/newsdrop", "run"]
    all_values = parse_unit(UNIT.read_text(encoding="utf-8"))
    assert f"NEWSDROP_DATA_DIR={DATA_DIR}" in all_values["Service.Environment"]
    # Outside a container the endpoints keep the loopback default.
    assert not [v for v in all_values["Service.Environment"] if v.startswith("NEWSDROP_HTTP_HOST")]


def test_env_example_names_only_newsdrop_settings() -> None:
    settings = re.findall(r"^#?([A-Z_]+)=(.*)$", ENV_EXAMPLE.read_text(encoding="utf-8"), re.M)
    assert settings
    for key, value in settings:
        assert key.startswith("NEWSDROP_"), key
        assert value != "0.0.0.0", "outside a container the endpoints stay on loopback"
        if "://" in value:
            assert "PASSWORD@" in value or "@" not in value, "a placeholder, never a real secret"


def _systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    return path


def _system_units() -> Path:
    for candidate in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")):
        if (candidate / "sysinit.target").is_file():
            return candidate
    pytest.skip("no systemd unit directory with sysinit.target to verify against")


@pytest.fixture(scope="module")
def verify_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root with the host's stock units and an executable at the unit's ExecStart path."""
    _systemd_analyze()
    stock = _system_units()
    root = tmp_path_factory.mktemp("verify-root")
    shutil.copytree(stock, root / "usr/lib/systemd/system", symlinks=True)
    exec_start = parse_unit(UNIT.read_text(encoding="utf-8"))["Service.ExecStart"][-1].split()[0]
    binary = root / exec_start.lstrip("/")
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    binary.chmod(0o755)
    (root / "etc/systemd/system").mkdir(parents=True)
    return root


def _verify(root: Path, unit_text: str) -> subprocess.CompletedProcess[str]:
    (root / "etc/systemd/system/newsdrop.service").write_text(unit_text, encoding="utf-8")
    return subprocess.run(
        [_systemd_analyze(), "verify", f"--root={root}", "newsdrop.service"],
        capture_output=True,
        text=True,
        env={**os.environ, "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": ""},
        timeout=60,
    )


def test_systemd_analyze_verify_is_clean(verify_root: Path) -> None:
    # Unknown keys and bad values are only warnings (exit 0): clean means no output at all.
    result = _verify(verify_root, UNIT.read_text(encoding="utf-8"))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_systemd_analyze_verify_catches_mistakes(verify_root: Path) -> None:
    """The check above can fail: a typo and a missing binary both show up."""
    text = UNIT.read_text(encoding="utf-8")
    broken = text.replace("ProtectClock=yes", "ProtectClock=yes\nProtectClok=yes")
    assert "Unknown key" in _verify(verify_root, broken).stderr
    missing = text.replace("/opt/newsdrop/venv/bin/newsdrop", "/opt/nowhere/newsdrop")
    result = _verify(verify_root, missing)
    assert result.returncode != 0
    assert "/opt/nowhere/newsdrop is not executable" in result.stderr


def test_systemd_analyze_security_exposure() -> None:
    command = [_systemd_analyze(), "security", "--offline=true", "--no-pager"]
    env = {**os.environ, "SYSTEMD_COLORS": "0"}
    # --threshold is in tenths of the printed score: 20 means 2.0.
    threshold = [f"--threshold={round(MAX_EXPOSURE * 10)}", str(UNIT)]
    result = subprocess.run(
        command + threshold, capture_output=True, text=True, env=env, timeout=60
    )
    match = re.search(r"Overall exposure level for newsdrop\.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout
    assert result.returncode == 0, result.stderr
