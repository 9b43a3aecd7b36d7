"""Who may import whom: nothing outside a service imports its server modules.

A service's callers (the gateway, the command line, the other services) use its client
package (``services.<name>.client``) and the kernel (``services.common``) only. The one
exception is the launcher, ``clientfolio/registry.py``: it names each service's class
and migrations by their module path, loaded when a process starts or migrates.
"""
import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(path.name for path in (ROOT / "services").iterdir()
                  if (path / "__init__.py").exists() and path.name != "common")
# The launcher: loads a service's class or migrations by name, to run them.
LAUNCHER = {"clientfolio/registry.py"}
MODULE_PATH = re.compile(r"^services\.(\w+)(\.\w+)*(:\w+)?$")


def modules():
    """``(relative path, dotted module name)`` of every module of the code base."""
    roots = [ROOT / "gateway", ROOT / "clientfolio", ROOT / "services"]
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if "migrations" in path.parts:
                continue
            relative = path.relative_to(ROOT)
            parts = list(relative.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            yield relative.as_posix(), ".".join(parts), path.name == "__init__.py"


def imported(tree, module, is_package):
    """Every module name an ``import`` or ``from ... import`` of ``tree`` names (relative
    ones resolved; ``from package import name`` counts as ``package.name``)."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            for alias in node.names:
                yield node.lineno, f"{source}.{alias.name}"


def owner(module):
    """The service a module belongs to (``None`` for the gateway, command line, kernel)."""
    parts = module.split(".")
    if len(parts) >= 2 and parts[0] == "services" and parts[1] in SERVICES:
        return parts[1]
    return None


def allowed(importer, name):
    """Whether ``importer`` may import ``name`` (a dotted module, maybe ``module.attr``)."""
    parts = name.split(".")
    if parts[0] != "services" or len(parts) < 2:
        return True
    target = parts[1]
    if target not in SERVICES:
        return target == "common" or len(parts) == 2
    if len(parts) == 2:  # the package itself (its __init__ is its description only)
        return True
    mine = owner(importer)
    in_client = mine == target and importer.split(".")[2:3] == ["client"]
    if mine == target and not in_client:
        return True
    # Everyone else, and the client package itself: the client package only.
    return parts[2] == "client"


def test_nothing_outside_a_service_imports_its_server_modules():
    found = []
    for path, module, is_package in modules():
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"), path)
        for line, name in imported(tree, module, is_package):
            if not allowed(module, name):
                found.append(f"{path}:{line} imports {name}")
        if path in LAUNCHER:
            continue
        for node in ast.walk(tree):  # importlib.import_module("services.x.service") too
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and MODULE_PATH.match(node.value) \
                    and not allowed(module, node.value.partition(":")[0]):
                found.append(f"{path}:{node.lineno} names {node.value}")
    assert found == []


def test_the_kernel_imports_no_service():
    found = [f"{path}:{line} imports {name}"
             for path, module, is_package in modules() if module.startswith("services.common")
             for line, name in imported(ast.parse((ROOT / path).read_text(encoding="utf-8")),
                                        module, is_package)
             if owner(name) is not None]
    assert found == []


def test_the_rule_sees_what_it_forbids():
    assert not allowed("gateway.api.clients", "services.contacts.uploads.send_file")
    assert not allowed("services.projects.service", "services.contacts.domain")
    assert not allowed("services.contacts.client.parts", "services.contacts.uploads")
    assert allowed("gateway.api.clients", "services.contacts.client.parts.send_file")
    assert allowed("services.contacts.uploads", "services.contacts.client.limits")
    assert allowed("services.contacts.imports.job", "services.contacts.writes")
    assert allowed("clientfolio.cli", "services.common.config")


def test_the_gateway_and_command_line_load_no_server_module():
    """At run time too: importing the gateway (and the command line) loads no module of
    a service but its client package (and the services' package descriptions)."""
    script = (
        "import sys, gateway.service, clientfolio.cli, clientfolio.clients_cli\n"
        f"services = {SERVICES!r}\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.split('.')[0] == 'services'\n"
        "      and len(m.split('.')) > 2 and m.split('.')[1] in services\n"
        "      and m.split('.')[2] != 'client')))\n")
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", script], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == []
