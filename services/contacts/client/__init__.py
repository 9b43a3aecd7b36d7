"""The caller's side of the contacts service's protocols, for the gateway and the
command line (and the service itself, for the constants both sides share).

It imports only ``services.common`` and third-party libraries, never contacts' server
modules (domain, database, queries, service, imports...): a caller loads this package
and nothing else of contacts (``tests/unit/test_import_graph.py`` checks it).

=================  ======================================================================
``limits``         file sizes both sides enforce (photo, attachment, import, parts)
``parts``          files sent to and read from contacts in parts over RPC
``spreadsheet``    the spreadsheet type check, the export's columns, CSV writer and
                   formula neutralising
``exports``        the export of clients as CSV or XLSX, streamed
``events``         what a consumer of contacts' events needs for a replica of its clients
``messages``       the codes and English templates of contacts' messages
=================  ======================================================================
"""
