"""Bulk import of clients from a spreadsheet, as resumable jobs.

A job is created by ``start_import`` (the file is checked at once: 413 too large, 415
not CSV/XLSX/XLS/ODS/vCard, 422 empty or without a recognisable header) and run by the
:class:`ImportRunner` of whichever contacts replica claims it first.

How a job runs
--------------
- Rows are read in file order and handled in batches (``IMPORT_BATCH_SIZE``, default
  500). Each row is validated with ``validate_client``; in ``upsert`` mode it is matched
  to an existing client by normalised tax id (``tax_id_key``), then by email, and a row
  with neither by its folded name when exactly one client has that name and it too has
  no tax id or email (and no other country): else a file of names alone would double
  on re-import. A blank cell of a matched row keeps the stored value unless the job
  says ``blank_cells="clear"`` (a file of some columns, half filled, must not erase
  what the clients already have).
- A batch is ONE transaction (events, query rows, verdicts, counters and checkpoint):
  a job killed midway resumes after its checkpoint and never writes a row twice.
- A runner owns a job under a lease it renews with every batch; a lease that runs out
  lets another runner take the job over from its checkpoint.
- Between batches the runner yields to the other green threads.

``revert_import`` undoes a finished job as events.

The modules, by job:

=============  ==========================================================================
``tables``     the job tables and a job's record as the RPC answers it
``presets``    other CRMs' exports: their column names, and which one a file is
``rows``       options, the mapping, and checking each row (no I/O)
``matching``   finding the clients the rows are (by id, tax id, email, name)
``job``        one pass over a job: batches written in one transaction each
``runner``     the background runner: claiming jobs under a lease
``report``     errors.csv
``revert``     undoing a finished job
``rpc``        the RPC entrypoints (a mixin of ``ContactsService``)
=============  ==========================================================================
"""
from .rpc import ClientImportsRpc
from .runner import ImportRunner
from .tables import files_table, jobs_table, reports_table, rows_table

__all__ = ["ClientImportsRpc", "ImportRunner", "files_table", "jobs_table", "reports_table",
           "rows_table"]
