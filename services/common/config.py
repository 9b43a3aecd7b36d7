"""Configuration: nameko's YAML file with ${ENV:default} substitution.

Every process (service, gateway, CLI) builds its config with ``load_config``:
the packaged ``config.yaml`` (or ``CLIENTFOLIO_CONFIG`` / an explicit path)
with environment variables substituted, plus a few derived keys.
"""
import os
from pathlib import Path

import yaml
from nameko.cli.main import setup_yaml_parser

DEFAULT_CONFIG = Path(__file__).with_name("config.yaml")
SERVICES = ("contacts", "projects", "billing", "gateway")

_parser_ready = False
# The PostgreSQL pool of this process's engines, from the config it loaded last.
_database_pool = {"pool_size": 20, "max_overflow": 10}


def load_config(path=None, overrides=None):
    """Read the YAML config with environment substitution; ``overrides`` win."""
    global _parser_ready
    if not _parser_ready:
        setup_yaml_parser()
        _parser_ready = True
    path = Path(path or os.environ.get("CLIENTFOLIO_CONFIG") or DEFAULT_CONFIG)
    with open(path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle) or {}
    config.update(overrides or {})
    port = config.get("HTTP_PORT") or 8000
    config.setdefault("WEB_SERVER_ADDRESS", f"0.0.0.0:{port}")
    for name, key in (("pool_size", "DATABASE_POOL_SIZE"),
                      ("max_overflow", "DATABASE_MAX_OVERFLOW")):
        if config.get(key) not in (None, ""):
            _database_pool[name] = int(config[key])
    return config


def database_pool():
    """``{"pool_size", "max_overflow"}`` of this process's PostgreSQL engines: the
    loaded config's ``DATABASE_POOL_SIZE`` and ``DATABASE_MAX_OVERFLOW`` (20, 10)."""
    return dict(_database_pool)


def database_url(config, service):
    """The service's database URL; a SQLite file under DATA_DIR when unset."""
    url = (config.get("DATABASE_URLS") or {}).get(service)
    if url:
        return url
    data_dir = Path(config.get("DATA_DIR") or "./var")
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(data_dir / f'{service}.db').resolve()}"


EVENT_DELIVERIES = ("transient", "persistent")


def event_delivery(config):
    """How the relays publish: ``transient`` (default) or ``persistent`` messages."""
    value = str(config.get("EVENT_DELIVERY") or "transient").strip().lower()
    if value not in EVENT_DELIVERIES:
        raise ValueError(f"CLIENTFOLIO_EVENT_DELIVERY must be one of "
                         f"{', '.join(EVENT_DELIVERIES)}, not {value!r}")
    return value
