"""deploy/docker-compose.yml: valid against the Compose Specification schema,
and consistent with the image and with the services' configuration."""
import json
import subprocess
import uuid
from importlib import resources

import jsonschema
import pytest
import sqlalchemy

from services.common.db import driver_url
from sqlalchemy import text

from tests.conftest import POSTGRES_URL

from .deployfiles import (
    COMPOSE_FILE,
    DEPLOY,
    SERVICES,
    config_variables,
    database_variable,
    duration_seconds,
    load_compose,
    load_compose_raw,
    parse_dockerfile,
    stage_env,
)


def compose_schema():
    # The Compose Specification's JSON schema, as vendored by check-jsonschema.
    source = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(source.read_text(encoding="utf-8"))


def test_compose_file_is_valid_against_the_compose_specification():
    schema = compose_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    for document in (load_compose_raw(), load_compose()):
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_the_schema_check_catches_mistakes():
    schema = compose_schema()
    broken = load_compose()
    broken["services"]["gateway"]["stop_grace_periood"] = "30s"
    validator = jsonschema.validators.validator_for(schema)(schema)
    assert list(validator.iter_errors(broken))


def test_the_whole_system_is_there():
    services = load_compose()["services"]
    assert {"rabbitmq", "postgres", "migrate", *SERVICES} <= set(services)
    assert services["rabbitmq"]["image"].startswith("rabbitmq:")
    assert services["postgres"]["image"].startswith("postgres:")


def test_each_clientfolio_service_runs_the_image_with_its_serve_command():
    services = load_compose()["services"]
    image = services["migrate"]["image"]
    for name in SERVICES:
        service = services[name]
        assert service["image"] == image, "one image for every service"
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert (DEPLOY / service["build"]["context"] / "deploy" / "Dockerfile").is_file()
        assert service["command"] == ["serve", name]
    assert services["migrate"]["command"] == ["migrate"]


def test_healthchecks_restart_policies_and_graceful_stop():
    services = load_compose()["services"]
    for name, service in services.items():
        if name == "migrate":
            assert service["restart"] == "no", "the migrations run once"
            continue
        assert service["restart"] in ("always", "unless-stopped", "on-failure"), name
        check = service["healthcheck"]["test"]
        assert check[0] in ("CMD", "CMD-SHELL"), name
    for name in SERVICES:
        service = services[name]
        assert "/ready" in service["healthcheck"]["test"][-1], "healthy = ready to serve"
        # `clientfolio serve` finishes in-flight work within 25 s of SIGTERM.
        assert duration_seconds(service["stop_grace_period"]) >= 30
        assert service.get("stop_signal", "SIGTERM") == "SIGTERM"


def test_start_order_waits_for_the_broker_the_database_and_the_migrations():
    services = load_compose()["services"]
    for name in SERVICES:
        depends = services[name]["depends_on"]
        assert depends["rabbitmq"]["condition"] == "service_healthy"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_named_volumes_are_declared_and_data_is_kept():
    model = load_compose()
    declared = set(model.get("volumes") or {})
    for name in ("rabbitmq", "postgres"):
        volumes = model["services"][name]["volumes"]
        named = {v.split(":")[0] for v in volumes if not v.startswith(".")}
        assert named and named <= declared, name
    for volume in model["services"]["postgres"]["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("."):
            assert (DEPLOY / source).is_file(), f"{source} is mounted but missing"


def test_environment_names_are_the_ones_the_services_read():
    known = config_variables()
    services = load_compose()["services"]
    for name in ("migrate", *SERVICES):
        environment = services[name]["environment"]
        assert set(environment) <= set(known), set(environment) - set(known)
        assert environment["AMQP_URI"].startswith("amqp://")
        assert environment["CLIENTFOLIO_HTTP_PORT"] == "8000"
        for service in SERVICES:
            url = environment[database_variable(service)]
            assert url.startswith("postgresql://") and url.endswith(f"@postgres:5432/{service}")


def test_one_database_per_service_is_created_at_start():
    postgres = load_compose()["services"]["postgres"]
    assert postgres["environment"]["CLIENTFOLIO_DATABASES"].split() == list(SERVICES)
    assert any(v.endswith(":/docker-entrypoint-initdb.d/10-create-databases.sh:ro")
               for v in postgres["volumes"])


def test_credentials_can_be_overridden_from_the_environment():
    model = load_compose({"CLIENTFOLIO_DB_PASSWORD": "pw1", "RABBITMQ_PASSWORD": "pw2"})
    gateway = model["services"]["gateway"]["environment"]
    assert gateway["GATEWAY_DATABASE_URL"] == "postgresql://gateway:pw1@postgres:5432/gateway"
    assert gateway["AMQP_URI"] == "amqp://clientfolio:pw2@rabbitmq:5672/"
    assert model["services"]["postgres"]["environment"]["CLIENTFOLIO_DB_PASSWORD"] == "pw1"


@pytest.fixture
def init_script_databases():
    """Names for the init script to create on the test server; dropped after."""
    names = [f"cf_test_init_{uuid.uuid4().hex[:8]}_{s}" for s in ("a", "b")]
    yield names
    admin = sqlalchemy.create_engine(driver_url(POSTGRES_URL), isolation_level="AUTOCOMMIT",
                                     poolclass=sqlalchemy.pool.NullPool)
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
    admin.dispose()


def test_postgres_init_script_creates_one_owned_database_per_service(init_script_databases):
    url = sqlalchemy.engine.make_url(POSTGRES_URL)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "PGHOST": url.host or "127.0.0.1",
           "PGPORT": str(url.port or 5432), "POSTGRES_USER": url.username or "postgres",
           "CLIENTFOLIO_DB_PASSWORD": "it's secret",
           "CLIENTFOLIO_DATABASES": " ".join(init_script_databases)}
    script = DEPLOY / "postgres" / "create-databases.sh"
    result = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    for name in init_script_databases:
        owner_url = url.set(username=name, password="it's secret", database=name)
        engine = sqlalchemy.create_engine(driver_url(owner_url), poolclass=sqlalchemy.pool.NullPool)
        with engine.begin() as conn:  # the service's own role can create its tables
            conn.execute(text("CREATE TABLE probe (id integer)"))
            assert conn.execute(text("SELECT current_user")).scalar() == name
            owner = conn.execute(text(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :n"),
                {"n": name}).scalar()
            assert owner == name
        engine.dispose()


def test_init_script_refuses_to_run_without_a_password():
    env = {"PATH": "/usr/bin:/bin", "CLIENTFOLIO_DATABASES": "never_created"}
    result = subprocess.run(["sh", str(DEPLOY / "postgres" / "create-databases.sh")], env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "CLIENTFOLIO_DB_PASSWORD" in result.stderr


def test_compose_file_documents_how_to_start():
    assert "docker compose up" in COMPOSE_FILE.read_text()


def test_contacts_keeps_its_files_in_a_named_volume_at_the_image_data_dir():
    data_dir = stage_env(parse_dockerfile()[-1], {})["CLIENTFOLIO_DATA_DIR"]
    model = load_compose()
    mounts = dict(v.split(":")[:2] for v in model["services"]["contacts"]["volumes"])
    assert {source for source, target in mounts.items() if target == data_dir} \
        <= set(model["volumes"])
    assert data_dir in mounts.values()
