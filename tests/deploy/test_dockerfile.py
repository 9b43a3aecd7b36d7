"""deploy/Dockerfile: what the image is made of, read without a Docker engine.

The image's command itself is exercised in test_image_command.py.
"""
import fnmatch
import re
import subprocess

from .deployfiles import (
    DOCKERFILE,
    ROOT,
    duration_seconds,
    exec_form,
    healthcheck,
    parse_dockerfile,
    stage_env,
)

BUILD_TOOLS = re.compile(r"\b(build-essential|gcc|g\+\+|make|libpq-dev|python3?-dev|clang)\b")


def final_stage():
    return parse_dockerfile()[-1]


def test_multi_stage_on_slim_python_311():
    stages = parse_dockerfile()
    assert len(stages) >= 2, "a build stage and a runtime stage"
    for stage in stages:
        assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", stage.base), stage.base
    runtime = stages[-1]
    copies = runtime.all("COPY")
    assert any(c.startswith(f"--from={stages[0].name}") for c in copies), \
        "the runtime stage takes the installed virtualenv from the build stage"


def test_build_stage_installs_the_distribution_without_extras():
    build = parse_dockerfile()[0]
    runs = " ".join(build.all("RUN"))
    assert re.search(r"pip install \.(\s|$)", runs), "pip install . (no extras at runtime)"


def test_no_build_tools_in_the_final_image():
    runtime = final_stage()
    for run in runtime.all("RUN"):
        assert not BUILD_TOOLS.search(run), f"build tools in the runtime stage: {run}"
        assert "pip install" not in run, "nothing is built in the runtime stage"
    for copy in runtime.all("COPY"):
        assert copy.startswith("--from="), f"the runtime stage copies only build output: {copy}"


def test_runs_as_a_non_root_user():
    user = final_stage().last("USER")
    assert user is not None, "USER in the final stage"
    name = user.split(":")[0]
    assert name not in ("root", "0")
    assert name.isdigit(), "a numeric uid lets Kubernetes verify runAsNonRoot"


def test_one_image_every_service_chosen_by_the_command():
    runtime = final_stage()
    assert exec_form(runtime.last("ENTRYPOINT")) == ["clientfolio"]
    command = exec_form(runtime.last("CMD"))
    assert command[0] == "serve" and len(command) == 2
    assert runtime.last("STOPSIGNAL") in (None, "SIGTERM", "15")


def test_healthcheck_calls_the_liveness_endpoint_on_the_configured_port():
    runtime = final_stage()
    options, command = healthcheck(runtime)
    assert command[0] == "python"
    assert "/health" in command[-1] and "CLIENTFOLIO_HTTP_PORT" in command[-1]
    assert duration_seconds(options["timeout"]) < duration_seconds(options["interval"])
    assert duration_seconds(options["start-period"]) >= 30, "start-up migrations take time"


def test_exposed_port_is_the_http_port():
    runtime = final_stage()
    env = stage_env(runtime, {"PATH": "/usr/local/bin:/usr/bin:/bin"})
    assert runtime.last("EXPOSE") == env["CLIENTFOLIO_HTTP_PORT"] == "8000"
    assert env["PYTHONUNBUFFERED"] == "1", "log lines reach `docker logs` at once"
    assert env["PATH"].split(":")[0] == "/opt/clientfolio/bin"


def _ignored(path, patterns):
    verdict = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, pattern.replace("**/", ""))
               for p in prefixes):
            verdict = not negate
    return verdict


def test_dockerignore_keeps_what_pip_install_needs_and_drops_the_rest():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    needed = [p for p in tracked if p == "pyproject.toml" or p == "README.md"
              or p.split("/")[0] in ("clientfolio", "services", "gateway")]
    assert any(p.startswith("services/") for p in needed)
    assert [p for p in needed if _ignored(p, patterns)] == []
    for heavy in (".venv/bin/python", ".git/HEAD", "var/contacts.db", "tests/conftest.py"):
        assert _ignored(heavy, patterns), heavy


def test_dockerfile_uses_exec_form_everywhere_signals_matter():
    text = DOCKERFILE.read_text()
    for keyword in ("ENTRYPOINT", "CMD"):
        for match in re.finditer(rf"^{keyword}\s+(.*)$", text, re.M):
            exec_form(match.group(1))
