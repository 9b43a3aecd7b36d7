"""Hostile files for the limits tests: XLSX "zip bombs" of both shapes (millions of
rows, one huge cell), sheets that name far rows and columns, and a workbook whose
central directory lies about a part's size. Written as a real workbook's parts
(openpyxl opens the harmless ones) and streamed into the ZIP, so making them is
cheap in memory."""
import io
import struct
import zipfile

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
PACKAGE = "http://schemas.openxmlformats.org/package/2006"
OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
SHEET = "xl/worksheets/sheet1.xml"

_PARTS = {
    "[Content_Types].xml": (
        f'<Types xmlns="{PACKAGE}/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
        'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.'
        'openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'),
    "_rels/.rels": (
        f'<Relationships xmlns="{PACKAGE}/relationships"><Relationship Id="rId1" '
        f'Type="{OFFICE}/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
    "xl/workbook.xml": (
        f'<workbook xmlns="{MAIN}" xmlns:r="{OFFICE}"><sheets>'
        '<sheet name="Clients" sheetId="1" r:id="rId1"/></sheets></workbook>'),
    "xl/_rels/workbook.xml.rels": (
        f'<Relationships xmlns="{PACKAGE}/relationships">'
        f'<Relationship Id="rId1" Type="{OFFICE}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{OFFICE}/sharedStrings" Target="sharedStrings.xml"/>'
        '</Relationships>'),
}

HEADER_ROW = '<row r="1"><c r="A1" t="s"><v>0</v></c></row>'  # "Name"


def workbook(rows_xml, strings=("Name",), repeat=1, string_chars=0):
    """An XLSX file: the sheet holds HEADER_ROW then ``rows_xml`` ``repeat`` times; the
    shared strings are ``strings`` plus, with ``string_chars``, one string of that
    many characters."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, xml in _PARTS.items():
            archive.writestr(name, xml)
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
            part.write(f'<sst xmlns="{MAIN}">'.encode())
            for text in strings:
                part.write(f"<si><t>{text}</t></si>".encode())
            if string_chars:
                part.write(b"<si><t>")
                chunk = b"A" * 2**20
                for _ in range(string_chars // len(chunk)):
                    part.write(chunk)
                part.write(b"</t></si>")
            part.write(b"</sst>")
        with archive.open(SHEET, "w", force_zip64=True) as part:
            part.write(f'<worksheet xmlns="{MAIN}"><sheetData>{HEADER_ROW}'.encode())
            block = rows_xml.encode() * 10_000
            for _ in range(repeat // 10_000):
                part.write(block)
            part.write(rows_xml.encode() * (repeat % 10_000))
            part.write(b"</sheetData></worksheet>")
    return out.getvalue()


def rows_bomb(rows=3_000_000):
    """A few hundred KiB that inflate to ``rows`` rows of clients."""
    return workbook('<row><c t="s"><v>1</v></c></row>', ("Name", "Talleres Pérez"),
                    repeat=rows)


def cell_bomb(mib=64):
    """About 65 KiB that inflate to one cell of ``mib`` MiB."""
    return workbook('<row r="2"><c r="A2" t="s"><v>1</v></c></row>', ("Name",),
                    string_chars=mib * 2**20)


def far_row():
    """A tiny sheet whose second row is numbered 1,048,576 (Excel's last)."""
    return workbook('<row r="1048576"><c r="A1048576" t="s"><v>0</v></c></row>')


def far_column():
    """A tiny sheet with a cell in column XFD (Excel's last, the 16,384th)."""
    return workbook('<row r="2"><c r="XFD2" t="s"><v>0</v></c></row>')


def lying_directory(content, part=SHEET, size=100_000):
    """``content`` with ``part``'s uncompressed size declared as ``size`` in both its
    central directory entry and its local header (the data still inflates in full)."""
    data = bytearray(content)
    position = data.find(b"PK\x01\x02")
    while position != -1:
        length = struct.unpack("<H", data[position + 28:position + 30])[0]
        if data[position + 46:position + 46 + length] == part.encode():
            break
        position = data.find(b"PK\x01\x02", position + 4)
    assert position != -1, part
    extra = struct.unpack("<H", data[position + 30:position + 32])[0]
    if struct.unpack("<I", data[position + 24:position + 28])[0] == 0xFFFFFFFF:
        # ZIP64: the real sizes are in the extra field (uncompressed first).
        field = position + 46 + length
        struct.pack_into("<Q", data, field + 4, size)
    else:
        struct.pack_into("<I", data, position + 24, size)
    del extra
    local = struct.unpack("<I", data[position + 42:position + 46])[0]
    if struct.unpack("<I", data[local + 22:local + 26])[0] != 0xFFFFFFFF:
        struct.pack_into("<I", data, local + 22, size)
    return bytes(data)
