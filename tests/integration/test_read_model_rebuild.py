"""A rebuild swaps the read model's generation under readers: a reader that picked the
old generation just before its tables were dropped is answered from the new one, never
with an error (on SQLite and PostgreSQL)."""
from datetime import date

from gateway import overview
from gateway.readmodel import read_model_for
from gateway.service import migrate
from services.common.db import get_database


def test_a_reader_of_a_dropped_generation_is_run_again_on_the_new_one(database_url):
    migrate(database_url)
    model = read_model_for(get_database(database_url))
    old = model.active_generation()
    new = model.start_build()
    seen = []

    def query(conn, tables):
        seen.append(tables.generation)
        if len(seen) == 1:  # the rebuild swaps and drops while this reader holds ``old``
            model.swap(new)
            model.drop(old)
        return overview.client_overview(conn, tables, "acme", "no-such-client",
                                        date(2026, 11, 20))

    assert model.read(query) is None  # an unknown client, answered without an error
    assert seen == [old, new]
    assert model.active_generation() == new
