"""A job's rows before they are written: options, mapping, and checking each row.

Checking does no I/O: :class:`RowChecker` validates the rows of a batch with
``validate_client`` and refuses a row whose tax id an earlier row of the file has (an
in-file duplicate); what is left are the candidates the writer matches to clients.
"""
import json
from dataclasses import dataclass, field

import eventlet

from services.common.errors import ValidationFailed

from .. import spreadsheets, vcards
from ..schemas import validate_client
from ..validation import client_country, email_key, fold_name, same_tax_id, tax_id_key, tax_number
from ..writes import canonical_uuid

CHECK_SLICE = 25  # rows checked between two yields to the writer (about 3 ms)


@dataclass
class PreparedBatch:
    """A batch of rows checked and ready to write (see :meth:`RowChecker.prepare`)."""
    last_row: int  # the spreadsheet row number of its last row: the next checkpoint
    size: int
    verdicts: dict  # rows already decided (errors): row -> verdict
    candidates: list  # (row, data, fields, tax key, email key, name key) of the valid rows
    ids: dict  # row -> client id given in the file (upsert)
    photos: dict = field(default_factory=dict)  # row -> (content type, bytes)


def parse_flag(value, name):
    """A true/false option as a form or the command line sends it; 422 otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0",
                                                             "no", ""):
        return value.strip().lower() in ("true", "1", "yes")
    if value is None:
        return False
    raise ValidationFailed("some fields are invalid", {name: ["must be true or false"]})


def parse_mapping(mapping):
    """An explicit mapping {header: field path} given as JSON text or an object."""
    if mapping is None or mapping == "":
        return None
    if isinstance(mapping, str):
        try:
            mapping = json.loads(mapping)
        except ValueError:
            raise ValidationFailed("some fields are invalid", {
                "mapping": ["must be a JSON object: column header -> field path"]}) from None
    return spreadsheets.check_mapping(mapping)


def row_errors(errors):
    """``{"field": [messages]}`` -> ``[{"field", "message"}]``."""
    return [{"field": field, "message": message}
            for field, messages in errors.items()
            for message in (messages if isinstance(messages, list) else [messages])]


def tax_key(fields):
    """The normalised tax id key of a client's fields (``None`` without a tax id)."""
    key = tax_id_key(fields.get("tax_id"), client_country(fields))
    return key[:300] if key else None


def without_blanks(data):
    """A row's values without its blank cells (``None``), nested ones included: what an
    upsert changes when blank cells keep the stored values."""
    kept = {}
    for key, value in data.items():
        if isinstance(value, dict):
            value = {name: inner for name, inner in value.items() if inner is not None}
            if not value:
                continue
        elif value is None:
            continue
        kept[key] = value
    return kept


class RowChecker:
    """Checks one job's rows in file order, remembering the tax ids seen so far."""

    def __init__(self, mode, batch_size):
        self.mode = mode
        self.batch_size = batch_size
        self.seen = {}  # tax id number -> [(key, row)] of the file's rows so far

    def replay(self, table, columns, checkpoint, failed):
        """Remember the tax ids of the rows already imported (up to ``checkpoint``,
        except the ``failed`` rows): in-file duplicates of them stay errors."""
        for number, cells in table.rows():
            if number > checkpoint:
                break
            if number in failed:
                continue
            key = tax_key(spreadsheets.row_to_client(columns, cells))
            if key:
                self._saw(key, number)

    def _saw(self, key, row):
        self.seen.setdefault(tax_number(key), []).append((key, row))

    def _seen_row(self, key):
        """The first row of the file with the same tax id as ``key`` (``same_tax_id``:
        a row without a country and one with it count as the same), or ``None``."""
        for other, row in self.seen.get(tax_number(key), ()):
            if same_tax_id(key, other):
                return row
        return None

    def prepare_all(self, table, columns, checkpoint, prepared):
        """Read and check the rows after ``checkpoint``, a batch at a time, into
        ``prepared``; then ``None`` (or the exception that stopped it)."""
        try:
            batch = []
            for number, cells in table.rows():
                if number <= checkpoint:
                    continue
                batch.append((number, spreadsheets.row_to_client(columns, cells)))
                if len(batch) >= self.batch_size:
                    prepared.put(self.prepare(batch))
                    batch = []
            if batch:
                prepared.put(self.prepare(batch))
            prepared.put(None)
        except Exception as exc:  # handed to the writer, which fails the job
            prepared.put(exc)

    def prepare(self, batch):
        """Validate a batch's rows (no I/O): a :class:`PreparedBatch`. Rows whose tax id
        an earlier row of the file has are errors (in-file duplicates)."""
        verdicts = {}  # row -> (outcome, client_id, errors, changes, previous)
        candidates = []
        ids, photos = {}, {}
        for index, (number, data) in enumerate(batch):
            if index % CHECK_SLICE == CHECK_SLICE - 1:
                # Let the writer go on as soon as its statement is answered: checking a
                # whole batch at once (60-90 ms) held it that long after each reply.
                eventlet.sleep(0)
            row_id = canonical_uuid(data.pop("id", None)) if self.mode == "upsert" else None
            data.pop("id", None)
            problem = data.pop(spreadsheets.EXTRA_CELLS, None)
            photo = data.pop("photo", None)
            if problem:  # more cells than the header: an unquoted separator, most likely
                verdicts[number] = ("error", None, [{"field": "row", "message": problem}],
                                    None, None)
                continue
            errors = []
            if photo is not None:
                try:
                    photo = vcards.photo_content(photo)
                except vcards.PhotoProblem as exc:
                    errors.append({"field": "photo", "message": str(exc)})
            try:
                fields = validate_client(data)
            except ValidationFailed as exc:
                errors = row_errors(exc.errors) + errors
            if errors:
                verdicts[number] = ("error", None, errors, None, None)
                continue
            tkey = tax_key(fields)
            earlier = self._seen_row(tkey) if tkey else None
            if earlier:
                verdicts[number] = ("error", None, [{
                    "field": "tax_id",
                    "message": f"this tax id is already in row {earlier} of the file"}],
                    None, None)
                continue
            if tkey:
                self._saw(tkey, number)
            ekey = email_key(fields.get("email"))
            nkey = fold_name(fields.get("name")) if not (tkey or ekey) else None
            candidates.append((number, data, fields, tkey, ekey, nkey or None))
            if row_id:
                ids[number] = row_id
            if photo is not None:
                photos[number] = photo
        return PreparedBatch(batch[-1][0], len(batch), verdicts, candidates, ids, photos)
