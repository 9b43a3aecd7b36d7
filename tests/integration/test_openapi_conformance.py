"""The OpenAPI document tells the truth: schemathesis generates requests from it (valid
ones, invalid ones, and sequences that follow its links) against the real stack, and
every answer must conform to it: no 5xx, only documented statuses, content types,
headers and bodies, valid requests accepted and invalid ones refused.

Deterministic (a fixed seed, no database of past examples) and bounded: a few
examples per operation here; ``make fuzz`` runs many more."""
import os
import subprocess
import sys
from pathlib import Path

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance,response_headers_conformance,"
          "negative_data_rejection,positive_data_acceptance")
EXAMPLES = int(os.environ.get("OPENAPI_FUZZ_EXAMPLES", "3"))
PHASES = os.environ.get("OPENAPI_FUZZ_PHASES", "examples,fuzzing,stateful")
HERE = Path(__file__).resolve().parent


def run_schemathesis(stack, tmp_path, examples=EXAMPLES, phases=PHASES):
    token = stack.token(role="admin")
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file", str(HERE / "schemathesis.toml"), "run",
        f"{stack.url}/api/v1/openapi.json", "--url", stack.url,
        "--header", f"Authorization: Bearer {token}",
        "--checks", CHECKS, "--phases", phases, "--max-examples", str(examples),
        "--seed", "20261207", "--workers", "1", "--request-timeout", "30",
        "--exclude-path-regex", "^/(metrics|health|ready)$|/photo$|/files|/imports",
        "--suppress-health-check", "all", "--no-color",
        "--generation-deterministic",
        *os.environ.get("OPENAPI_FUZZ_ARGS", "").split(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "NO_COLOR": "1",
                               "SCHEMATHESIS_HOOKS": "tests.integration.schemathesis_hooks"})


def test_the_api_conforms_to_its_openapi_document(stack, tmp_path):
    result = run_schemathesis(stack, tmp_path)
    if os.environ.get("OPENAPI_FUZZ_OUTPUT"):
        Path(os.environ["OPENAPI_FUZZ_OUTPUT"]).write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-3000:]
