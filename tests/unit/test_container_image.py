"""The Dockerfile (no Docker daemon here to build it): read as Docker reads it, it is multi-stage,
builds every wheel in one stage, installs them offline in a runtime stage that runs as a non-root
user with `cairn` as its entry point, and copies every package folder pyproject maps."""

from __future__ import annotations

import fnmatch
import json
import shlex
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args_of(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, each with its (INSTRUCTION, arguments) in order.
    Comments are dropped and lines ending in a backslash are joined, as Docker does."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword == "FROM":
            words = rest.split()
            base = words[0]
            for name, value in args.items():
                base = base.replace("${" + name + "}", value)
            alias = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            stages.append(Stage(base, alias))
        elif not stages:
            assert keyword == "ARG", f"only ARG may come before the first FROM, not {keyword}"
            name, _, value = rest.partition("=")
            args[name] = value
        else:
            stages[-1].instructions.append((keyword, rest))
    return args, stages


def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text())


def test_two_stages_on_a_slim_python_base() -> None:
    _, stages = dockerfile()
    assert [s.name for s in stages] == ["build", "runtime"]
    for stage in stages:
        assert stage.base.startswith("python:3.11-slim"), stage.base


def test_wheels_are_built_once_and_installed_offline() -> None:
    build, runtime = dockerfile()[1]
    assert any(run.startswith("pip wheel --wheel-dir /wheels .") for run in build.args_of("RUN"))
    installs = [run for run in runtime.args_of("RUN") if "pip install" in run]
    assert len(installs) == 1
    assert "--no-index" in installs[0] and "--find-links=/wheels" in installs[0]
    assert "from=build" in installs[0], "the runtime stage takes the wheels from the build stage"
    # no compiler and no source tree in the runtime stage
    assert not any("gcc" in run for run in runtime.args_of("RUN"))
    assert runtime.args_of("COPY") == []


def test_runtime_runs_as_a_non_root_user_with_cairn_as_entry_point() -> None:
    runtime = dockerfile()[1][-1]
    users = runtime.args_of("USER")
    assert users, "the runtime stage sets a USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert int(user) >= 1000
    created = [run for run in runtime.args_of("RUN") if "useradd" in run]
    assert created and f"--uid {user}" in created[0]
    assert json.loads(runtime.args_of("ENTRYPOINT")[-1]) == ["cairn"]
    assert json.loads(runtime.args_of("CMD")[-1]) == ["--help"]


def _ignored(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, p) or path.split("/")[0] == p for p in patterns)


def test_build_stage_copies_every_package_folder_and_the_context_keeps_them() -> None:
    build = dockerfile()[1][0]
    copied = set()
    for args in build.args_of("COPY"):
        words = shlex.split(args)
        copied.update(w.rstrip("/") for w in words[:-1] if not w.startswith("--"))
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    folders = set(config["tool"]["setuptools"]["package-dir"].values())
    assert folders | {"pyproject.toml", "README.md"} <= copied
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in copied:
        assert (ROOT / path).exists(), path
        assert not _ignored(path, patterns), f"{path} is copied but excluded by .dockerignore"
    assert _ignored(".venv", patterns) and _ignored(".git", patterns) and _ignored("tests", patterns)


def test_make_image_builds_this_dockerfile() -> None:
    out = subprocess.run(
        ["make", "--no-print-directory", "-n", "image"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert out.strip() == (
        f"DOCKER_BUILDKIT=1 docker build  --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm -t cairn:{version} ."
    )


def test_the_local_base_script_is_valid_shell_and_makes_the_base_the_readme_names() -> None:
    script = ROOT / "scripts" / "local-base-image.sh"
    subprocess.run(["sh", "-n", str(script)], check=True, timeout=30)
    assert "cairn-base:bookworm-py311" in script.read_text()
    assert "make image PYTHON_IMAGE=cairn-base:bookworm-py311" in (ROOT / "README.md").read_text()


def test_serve_runs_every_role_from_the_one_entry_point() -> None:
    from cairn.serve_cmd import ROLES

    for role in ROLES:
        out = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "cairn"), "serve", role, "--help"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        assert "usage:" in out and "--port" in out, role
