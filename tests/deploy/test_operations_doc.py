"""docs/operations.md stays true to the code and the deployment files."""
import re
import shlex

import pytest

from clientfolio.cli import build_parser

from .deployfiles import COMPOSE_FILE, DEPLOY, OPERATIONS_DOC, config_variables

SUPERVISOR_VARIABLES = ("CLIENTFOLIO_INTERNAL_PORT_BASE", "CLIENTFOLIO_DEMO")


def doc():
    return OPERATIONS_DOC.read_text(encoding="utf-8")


def section(title):
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", doc(), re.M | re.S)
    assert match, f"docs/operations.md has no section '## {title}'"
    return match.group(1)


def reference_rows():
    rows = {}
    for line in section("Configuration reference").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells[1:]
    return rows


@pytest.mark.parametrize("title", [
    "Configuration reference", "Scaling", "Backup and restore of the event stores",
    "Rebuilding read models", "Replaying dead letters", "Upgrading with migrations",
    "What to alert on",
])
def test_the_operations_guide_has_its_sections(title):
    assert section(title).strip()


def test_every_variable_is_in_the_reference_with_its_default_and_an_example():
    rows = reference_rows()
    for name, default in config_variables().items():
        assert name in rows, f"{name} is missing from the configuration reference"
        documented_default, example, meaning = rows[name]
        assert example and meaning, name
        if default:
            assert f"`{default}`" in documented_default, \
                f"{name}: config.yaml says {default!r}, the doc {documented_default!r}"
    for name in SUPERVISOR_VARIABLES:
        assert name in rows


def test_every_compose_and_init_script_variable_is_documented():
    text = doc()
    compose_variables = set(re.findall(r"\$\{(\w+)", COMPOSE_FILE.read_text()))
    script = (DEPLOY / "postgres" / "create-databases.sh").read_text()
    script_variables = set(re.findall(r"\$\{(CLIENTFOLIO_\w+)", script))
    assert compose_variables and script_variables
    for name in compose_variables | script_variables:
        assert f"`{name}`" in text, f"{name} is not documented"


def test_documented_commands_are_real_commands():
    parser = build_parser()
    commands = re.findall(r"(?:`|-- |exec [\w/-]+ |^)clientfolio ([^`\n\\]+)", doc(), re.M)
    commands = [c.split("#")[0].strip() for c in commands]
    assert {"migrate", "overview", "dead-letters"} <= {c.split()[0] for c in commands}
    for command in commands:
        try:
            parser.parse_args(shlex.split(command))
        except SystemExit:
            raise AssertionError(f"documented command does not parse: clientfolio {command}")


def test_the_documented_grace_periods_are_the_configured_ones():
    text = doc()
    assert "stop_grace_period: 30s" in text and "stop_grace_period: 30s" in \
        COMPOSE_FILE.read_text()
    base = (DEPLOY / "k8s" / "base" / "gateway.yaml").read_text()
    period = re.search(r"terminationGracePeriodSeconds: (\d+)", base).group(1)
    assert f"terminationGracePeriodSeconds: {period}" in text
