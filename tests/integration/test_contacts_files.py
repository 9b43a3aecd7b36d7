"""A client's photo and attachments over HTTP: types checked by content, size limits
(413 before any RPC), downloads with RFC 6266 names, events carrying metadata only."""
import struct
import urllib.parse
import uuid
import zlib

import pytest
import requests

from tests.integration.conftest import Stack, running, sqlite_urls
from tests.integration.test_contacts_clients import Client

PROBLEM = "application/problem+json"
MiB = 1024 * 1024


class FilesStack(Stack):
    """The test stack with the contacts file storage in a temporary directory."""

    def __init__(self, amqp_uri, database_urls, files_dir):
        super().__init__(amqp_uri, database_urls)
        self.files_dir = files_dir

    def config(self, service):
        return {**super().config(service), "FILES_DIR": str(self.files_dir)}


@pytest.fixture(scope="module")
def stack(vhosts, tmp_path_factory):
    directory = tmp_path_factory.mktemp("contacts-files")
    with running(FilesStack(vhosts.create(), sqlite_urls(directory),
                            directory / "blobs")) as stack:
        yield stack


@pytest.fixture
def http(stack):
    return Client(stack, stack.session(f"ws-{uuid.uuid4().hex[:10]}"))


@pytest.fixture
def client(http):
    return http.post("/api/v1/clients", json={"name": "Fotografia Lda"}).json()


# -- real images, built here -------------------------------------------------------------

def png(width=2, height=2):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def jpeg():
    # SOI, APP0/JFIF, then EOI: the magic bytes and a valid header.
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return b"\xff\xd8\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0 + b"\xff\xd9"


def webp():
    vp8l = b"\x2f\x00\x00\x00\x00\x00\x00\x00"  # lossless bitstream header of a 1x1 image
    body = b"WEBP" + b"VP8L" + struct.pack("<I", len(vp8l)) + vp8l
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_photo_round_trip_for_each_accepted_type(http, client, stack):
    path = f"/api/v1/clients/{client['id']}/photo"
    assert http.get(path).status_code == 404
    version = 1
    for content, content_type in ((png(), "image/png"), (jpeg(), "image/jpeg"),
                                  (webp(), "image/webp")):
        # The declared type is ignored: the content decides.
        put = http.put(path, data=content, headers={"Content-Type": "application/octet-stream"})
        assert put.status_code == 200, put.text
        version += 1
        assert put.headers["ETag"] == f'"{version}"'
        assert put.json()["photo"] == {"content_type": content_type, "size": len(content)}
        got = http.get(path)
        assert got.status_code == 200 and got.content == content
        assert got.headers["Content-Type"] == content_type
    events = [e for e in stack.rpc.contacts.events_since(0, 5000)
              if e["stream_id"] == client["id"] and e["type"] == "ClientPhotoChanged"]
    assert [e["data"] for e in events][0] == {"client_id": client["id"],
                                              "content_type": "image/png", "size": len(png())}
    deleted = http.delete(path)
    assert deleted.status_code == 204 and deleted.headers["Consistency-Token"]
    assert http.get(path).status_code == 404
    assert http.delete(path).status_code == 404
    assert http.get(f"/api/v1/clients/{client['id']}").json()["photo"] is None


def test_photo_refusals(http, client):
    path = f"/api/v1/clients/{client['id']}/photo"
    text = http.put(path, data=b"just some text, not an image",
                    headers={"Content-Type": "image/png"})
    assert text.status_code == 415 and text.headers["Content-Type"] == PROBLEM
    gif = http.put(path, data=b"GIF89a" + b"\x00" * 20)
    assert gif.status_code == 415
    large = png() + b"\x00" * (2 * MiB)
    too_large = http.put(path, data=large)
    assert too_large.status_code == 413 and too_large.headers["Content-Type"] == PROBLEM

    # Without Content-Length (chunked), the gateway stops reading past the limit.
    def chunks():
        for _ in range(3):
            yield b"\x89PNG" + b"\x00" * MiB

    chunked = http.put(path, data=chunks())
    assert chunked.status_code == 413
    assert http.put(path, data=b"").status_code == 400
    assert http.get(f"/api/v1/clients/{client['id']}").json()["version"] == 1
    # As a form sends it: the same checks on the multipart field.
    no_field = http.put(path, files={"image": ("logo.png", png())})
    assert no_field.status_code == 422 and "file" in no_field.json()["errors"]
    assert http.put(path, files={"file": ("big.png", large)}).status_code == 413
    assert http.put(path, files={"file": ("notes.png", b"text")}).status_code == 415


def test_a_photo_sent_from_a_form_is_stored(http, client):
    path = f"/api/v1/clients/{client['id']}/photo"
    image = png()
    answer = http.put(path, files={"file": ("Foto de perfil.png", image, "image/png")})
    assert answer.status_code == 200, answer.text
    stored = http.get(path)
    assert stored.content == image and stored.headers["Content-Type"] == "image/png"


def test_a_retried_upload_with_its_idempotency_key_stores_one_file(http, client):
    """Each multipart request has a boundary of its own: the retry is compared by its
    fields and file, not its bytes."""
    base = f"/api/v1/clients/{client['id']}/files"
    key = {"Idempotency-Key": f"upload-{uuid.uuid4()}"}
    pdf = b"%PDF-1.4\n%%EOF\n"
    first = http.post(base, files={"file": ("contrato.pdf", pdf)}, headers=key)
    again = http.post(base, files={"file": ("contrato.pdf", pdf)}, headers=key)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert [f["id"] for f in http.get(base).json()["items"]] == [first.json()["id"]]
    other = http.post(base, files={"file": ("contrato.pdf", pdf + b"x")}, headers=key)
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["errors"]


def test_attachments_upload_list_download_delete(http, client, stack):
    base = f"/api/v1/clients/{client['id']}/files"
    assert http.get(base).json() == {"items": []}
    name = "Relatório de visita — São Paulo.pdf"
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    uploaded = http.post(base, files={"file": (name, pdf, "application/octet-stream")})
    assert uploaded.status_code == 201, uploaded.text
    meta = uploaded.json()
    assert meta["name"] == name and meta["size"] == len(pdf)
    assert meta["content_type"] == "application/pdf" and meta["uploaded_at"].endswith("Z")
    assert uploaded.headers["Location"] == f"{base}/{meta['id']}"
    assert uploaded.headers["Consistency-Token"].startswith("contacts:")
    image = http.post(base, files={"file": ("logo.PNG", png(), "image/png")}).json()
    notes = http.post(base, files={"file": ("notas.csv", "nome;valor\nAçaí;1\n".encode(),
                                            "text/csv")}).json()
    assert notes["content_type"] == "text/csv"
    listed = http.get(base).json()["items"]
    assert [f["id"] for f in listed] == [meta["id"], image["id"], notes["id"]]
    assert set(listed[0]) == {"id", "name", "size", "content_type", "uploaded_at"}

    download = http.get(f"{base}/{meta['id']}")
    assert download.status_code == 200 and download.content == pdf
    assert download.headers["Content-Type"] == "application/pdf"
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=\"")
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert urllib.parse.unquote(encoded) == name
    assert disposition.encode("latin-1")  # the header itself is plain ASCII

    deleted = http.delete(f"{base}/{meta['id']}")
    assert deleted.status_code == 204
    assert http.get(f"{base}/{meta['id']}").status_code == 404
    assert http.delete(f"{base}/{meta['id']}").status_code == 404
    assert [f["id"] for f in http.get(base).json()["items"]] == [image["id"], notes["id"]]
    events = [e for e in stack.rpc.contacts.events_since(0, 5000)
              if e["stream_id"] == client["id"]]
    # The file name is personal data: sealed with the client's key (docs/privacy.md).
    positions = [e["position"] for e in events if e["type"] == "ClientFileAttached"]
    opened = stack.rpc.contacts.reveal_events(positions)
    attached = [opened[str(position)] for position in positions]
    assert attached[0] == {"client_id": client["id"], "file_id": meta["id"], "name": name,
                           "size": len(pdf), "content_type": "application/pdf"}
    removed = [e["data"] for e in events if e["type"] == "ClientFileRemoved"]
    assert removed == [{"client_id": client["id"], "file_id": meta["id"]}]
    blobs = list((stack.files_dir / client["id"] / "files").iterdir())
    assert sorted(p.name for p in blobs) == sorted([image["id"], notes["id"]])
    history = [i["type"] for i in
               http.get(f"/api/v1/clients/{client['id']}/history").json()["items"]]
    assert history == ["ClientRegistered", "ClientFileAttached", "ClientFileAttached",
                       "ClientFileAttached", "ClientFileRemoved"]


def test_attachment_refusals(http, client):
    base = f"/api/v1/clients/{client['id']}/files"
    fake = http.post(base, files={"file": ("photo.png", b"hello, I am text", "image/png")})
    assert fake.status_code == 415 and fake.headers["Content-Type"] == PROBLEM
    assert "png" in fake.json()["detail"]
    exe = http.post(base, files={"file": ("setup.exe", b"MZ\x90\x00" + b"\x00" * 64)})
    assert exe.status_code == 415
    unknown = http.post(base, files={"file": ("blob", b"\x00\x01\x02\x03binary")})
    assert unknown.status_code == 415
    as_json = http.post(base, json={"file": "x"})
    assert as_json.status_code == 415
    missing = http.post(base, files={"other": ("a.txt", b"text")})
    assert missing.status_code == 422 and "file" in missing.json()["errors"]
    big = b"%PDF-1.4\n" + b"0" * (20 * MiB)
    too_large = http.post(base, files={"file": ("big.pdf", big)})
    assert too_large.status_code == 413 and too_large.headers["Content-Type"] == PROBLEM
    # Exactly at the limit is fine.
    limit = b"%PDF-1.4\n" + b"0" * (20 * MiB - 9)
    ok = http.post(base, files={"file": ("limit.pdf", limit)})
    assert ok.status_code == 201, ok.text
    assert http.get(f"{base}/{ok.json()['id']}").content == limit
    assert http.get(f"{base}/{uuid.uuid4()}").status_code == 404
    assert http.get(f"{base}/not-an-id").status_code == 404
    assert http.delete(f"{base}/not-an-id").status_code == 404
    # A file name cannot climb out of its folder; it is only a label.
    sneaky = http.post(base, files={"file": ("../../etc/passwd.txt", b"root:x:0:0")})
    assert sneaky.status_code == 201 and sneaky.json()["name"] == "passwd.txt"


def test_archived_clients_files_can_be_read_not_changed(http, client):
    base = f"/api/v1/clients/{client['id']}"
    file_id = http.post(f"{base}/files", files={"file": ("a.txt", b"hello")}).json()["id"]
    assert http.put(f"{base}/photo", data=png()).status_code == 200
    assert http.post(f"{base}/archive").status_code == 200
    assert http.get(f"{base}/files/{file_id}").content == b"hello"
    assert http.get(f"{base}/photo").content == png()
    assert http.post(f"{base}/files", files={"file": ("b.txt", b"x")}).status_code == 409
    assert http.put(f"{base}/photo", data=png()).status_code == 409
    assert http.delete(f"{base}/files/{file_id}").status_code == 409


def test_another_workspace_cannot_reach_files(http, client, stack):
    base = f"/api/v1/clients/{client['id']}"
    file_id = http.post(f"{base}/files", files={"file": ("a.txt", b"hello")}).json()["id"]
    other = Client(stack, stack.session(f"ws-{uuid.uuid4().hex[:10]}"))
    assert other.get(f"{base}/files/{file_id}").status_code == 404
    assert other.delete(f"{base}/files/{file_id}").status_code == 404
    assert other.post(f"{base}/files", files={"file": ("b.txt", b"x")}).status_code == 404
    assert other.get(f"{base}/files").status_code == 404
    assert http.get(f"{base}/files/{file_id}").status_code == 200
    anonymous = requests.get(f"{stack.url}{base}/files/{file_id}", timeout=10)
    assert anonymous.status_code == 401
