"""Reading the deployment files the way Docker, Compose and kustomize read them.

- ``Dockerfile``: instructions per stage, ``ENV`` values, ``ENTRYPOINT``/``CMD``
  and ``HEALTHCHECK`` in their JSON (exec) form;
- ``docker-compose.yml``: YAML with merge keys, then Compose's variable
  interpolation (``${VAR:-default}``, ``${VAR-default}``, ``${VAR}``, ``$$``);
- ``deploy/k8s``: ``kubectl kustomize`` (or ``kustomize build``) output;
- ``services/common/config.yaml``: the environment variable names it reads.
"""
import json
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml


class PlainLoader(yaml.SafeLoader):
    """YAML as the deploy tools read it: nameko's configuration loader (once any test
    loaded a config) adds a resolver for ``${VAR}`` to PyYAML's safe loader, which
    would substitute the Compose file's own references."""

    yaml_implicit_resolvers = {
        first: [resolver for resolver in resolvers if resolver[0] != "!env_var"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
K8S = DEPLOY / "k8s"
K8S_BASE = K8S / "base"
K8S_OVERLAYS = sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml"))
CONFIG_YAML = ROOT / "services" / "common" / "config.yaml"
OPERATIONS_DOC = ROOT / "docs" / "operations.md"

SERVICES = ("contacts", "projects", "billing", "gateway")


# -- services/common/config.yaml ------------------------------------------------------

def config_variables():
    """Every environment variable the services read: ``${NAME:default}`` in
    config.yaml, plus CLIENTFOLIO_CONFIG (which chooses another config file)."""
    settings = "\n".join(line.split("#")[0] for line in CONFIG_YAML.read_text().splitlines())
    names = dict(re.findall(r"\$\{([A-Z0-9_]+):([^}]*)\}", settings))
    names["CLIENTFOLIO_CONFIG"] = ""
    return names


def database_variable(service):
    return f"{service.upper()}_DATABASE_URL"


# -- Dockerfile -------------------------------------------------------------------------

@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list = field(default_factory=list)  # (KEYWORD, arguments)

    def all(self, keyword):
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword):
        found = self.all(keyword)
        return found[-1] if found else None


def _logical_lines(text):
    """Instructions with line continuations joined; comments and blank lines dropped."""
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue  # comment lines are dropped even inside a continuation
        if stripped.endswith("\\"):
            current += stripped[:-1].rstrip() + " "
            continue
        current += stripped
        if current.strip():
            lines.append(current.strip())
        current = ""
    if current.strip():
        lines.append(current.strip())
    return lines


def _expand(value, variables):
    return re.sub(r"\$\{(\w+)\}|\$(\w+)",
                  lambda m: variables.get(m.group(1) or m.group(2), ""), value)


def parse_dockerfile(path=DOCKERFILE):
    """The stages of a Dockerfile, ``ARG`` defaults before the first ``FROM`` applied."""
    global_args, stages = {}, []
    for line in _logical_lines(path.read_text()):
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            base = _expand(words[0], global_args)
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif not stages:
            if keyword == "ARG":
                key, _, default = args.partition("=")
                global_args[key] = default
        else:
            stages[-1].instructions.append((keyword, args))
    return stages


def exec_form(args):
    """``["a", "b"]`` -> list; the shell form is refused (signals would go to /bin/sh)."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def stage_env(stage, base_env):
    """The environment after the stage's ``ENV`` instructions, over ``base_env``."""
    env = dict(base_env)
    for args in stage.all("ENV"):
        words = shlex.split(args)
        if words and "=" not in words[0]:  # legacy form: ENV KEY value with spaces
            env[words[0]] = _expand(" ".join(words[1:]), env)
            continue
        for word in words:
            key, _, value = word.partition("=")
            env[key] = _expand(value, env)
    return env


def healthcheck(stage):
    """(options, command) of the stage's ``HEALTHCHECK ... CMD [...]``."""
    args = stage.last("HEALTHCHECK")
    assert args is not None, "no HEALTHCHECK"
    options_text, marker, command = args.partition("CMD ")
    assert marker, f"HEALTHCHECK without CMD: {args}"
    options = dict(option[2:].split("=", 1) for option in options_text.split())
    return options, exec_form(command.strip())


def duration_seconds(value):
    """Docker and Compose durations: ``30s``, ``1m30s``, ``1h``, ``500ms``."""
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(value)):
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}[unit]
    return total


# -- docker-compose.yml ---------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$(?:\$|\{(\w+)(?:(:?[-?])([^}]*))?\}|(\w+))")


def interpolate(value, environment):
    """Compose's variable interpolation, applied to every string of the file."""
    if isinstance(value, dict):
        return {k: interpolate(v, environment) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, environment) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match):
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        operator, default = match.group(2), match.group(3) or ""
        current = environment.get(name)
        if operator == ":-" and not current:
            return default
        if operator == "-" and current is None:
            return default
        if operator in (":?", "?") and not current:
            raise ValueError(f"{name} is required: {default}")
        return current or ""

    return _INTERPOLATION.sub(substitute, value)


def load_compose_raw(path=COMPOSE_FILE):
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=PlainLoader)


def load_compose(environment=None, path=COMPOSE_FILE):
    """The Compose model as ``docker compose config`` sees it (environment as lists
    normalised to mappings), with ``environment`` for the interpolation."""
    model = interpolate(load_compose_raw(path), environment or {})
    for service in model.get("services", {}).values():
        env = service.get("environment")
        if isinstance(env, list):
            service["environment"] = dict(item.split("=", 1) if "=" in item else (item, None)
                                          for item in env)
    return model


# -- Kubernetes -----------------------------------------------------------------------

def kustomize_command():
    """``kubectl kustomize`` (built into kubectl) or a standalone ``kustomize build``."""
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    raise AssertionError("neither kubectl nor kustomize is installed: "
                         "the Kubernetes manifests cannot be rendered")


def kustomize(directory):
    """The resources kustomize renders from ``directory`` (offline)."""
    result = subprocess.run([*kustomize_command(), str(directory)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, f"kustomize {directory} failed:\n{result.stderr}"
    return [doc for doc in yaml.load_all(result.stdout, Loader=PlainLoader) if doc]


def load_manifests(path):
    with open(path, encoding="utf-8") as handle:
        return [doc for doc in yaml.load_all(handle, Loader=PlainLoader) if doc]


def find(resources, kind, name=None):
    found = [r for r in resources if r["kind"] == kind
             and (name is None or r["metadata"]["name"] == name)]
    if name is not None:
        assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
        return found[0]
    return found
