"""Contacts benchmarks: client search at a million rows, and creating clients over HTTP.

- Search: p50/p99 latency of ``GET /api/v1/clients?q=`` as the service runs it
  (``services.contacts.queries.list_clients``: folded search column, pg_trgm GIN index,
  keyset page of 50 by name) over 1,000,000 clients on PostgreSQL, beside a plain
  ``SELECT ... WHERE name ILIKE '%q%' ORDER BY name LIMIT 51`` on the same table in
  the same run. The table is made by the service's own migration; the rows are
  bulk-loaded with COPY (indexes dropped during the load and recreated from the exact
  definitions the migration made), with the same folded columns the service writes
  (checked against ``queries.row_values`` on a sample).
- Create: clients created per second through the gateway (HTTP, auth, RPC, event
  append, query tables) by 20 concurrent clients, beside the gateway's ``/health``
  requests per second with the same 20 clients, the stack running as subprocesses
  (``clientfolio serve``) on a fresh vhost and fresh databases.

``quick=True`` uses 100,000 clients and fewer requests.
"""
import csv
import io
import os
import queue
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
import uuid
from datetime import datetime, timedelta, timezone

import orjson
import requests
from sqlalchemy import text

from services.common.db import get_database

from .support import Timer, database, postgres_database, rate, vhost

WORKSPACE = "bench"

WORDS = [
    "São", "Paulo", "Seguros", "Imóveis", "Construções", "Fundació", "Catalana", "Disseny",
    "Ibérica", "Logística", "Transportes", "Alimentação", "Comércio", "Indústria", "Têxtil",
    "Metalúrgica", "Energia", "Solar", "Eólica", "Agrícola", "Vinhos", "Azeites", "Cerâmica",
    "Calçado", "Cortiça", "Mármores", "Papelaria", "Gráfica", "Edições", "Consultoria",
    "Informática", "Sistemas", "Redes", "Telecomunicações", "Farmácia", "Clínica", "Saúde",
    "Óptica", "Dental", "Veterinária", "Educação", "Escola", "Academia", "Formação", "Turismo",
    "Viagens", "Hotelaria", "Restauração", "Padaria", "Pastelaria", "Talho", "Peixaria",
    "Mercearia", "Supermercados", "Distribuição", "Importações", "Exportações", "Navegação",
    "Marítima", "Portuária", "Aeronáutica", "Automóveis", "Oficina", "Pneus", "Combustíveis",
    "Química", "Plásticos", "Borracha", "Vidros", "Madeiras", "Móveis", "Decoração",
    "Iluminação", "Eletricidade", "Canalizações", "Climatização", "Segurança", "Vigilância",
    "Limpezas", "Jardinagem", "Paisagismo", "Arquitetura", "Engenharia", "Topografia",
    "Geotecnia", "Ambiente", "Reciclagem", "Águas", "Saneamento", "Imobiliária",
    "Investimentos", "Gestão", "Contabilidade", "Auditoria", "Advogados", "Notariado",
    "Seguradora", "Corretora", "Crédito", "Leasing", "Factoring", "Câmbios", "Joalharia",
    "Relojoaria", "Moda", "Confecções", "Malhas", "Bordados", "Rendas", "Sapataria",
    "Desporto", "Ginásio", "Piscinas", "Eventos", "Espetáculos", "Música", "Cinema",
    "Fotografia", "Publicidade", "Marketing", "Comunicação", "Jornal", "Rádio", "Televisão",
    "Barcelona", "Madrid", "Sevilla", "València", "Bilbao", "Zaragoza", "Málaga", "Córdoba",
    "Granada", "Alicante", "Girona", "Lleida", "Tarragona", "Lisboa", "Porto", "Braga",
    "Coimbra", "Évora", "Faro", "Aveiro", "Viseu", "Leiria", "Setúbal", "Funchal",
    "Atlântico", "Mediterrâneo", "Norte", "Sul", "Centro", "Nacional", "Internacional",
    "Global", "Europa", "Península", "Continental", "Insular", "Real", "Nova", "Velha",
    "Grande", "Pequena", "Moderna", "Clássica", "Digital", "Verde", "Azul", "Dourada",
    "Estrela", "Sol", "Lua", "Mar", "Serra", "Vale", "Rio", "Ponte", "Torre", "Castelo",
    "Muralha", "Praça", "Avenida", "Jardim", "Quinta", "Herdade", "Monte", "Ribeira",
    "Montaña", "Huerta", "Olivar", "Viñedo", "Bodega", "Almazara", "Panadería", "Carnicería",
    "Pescadería", "Frutería", "Ferretería", "Librería", "Papelería", "Droguería", "Zapatería",
    "Peluquería", "Estética", "Fisioterapia", "Psicología", "Nutrición", "Odontología",
    "Ingeniería", "Construcción", "Reformas", "Pintura", "Carpintería", "Cerrajería",
    "Fontanería", "Electricidad", "Mudanzas", "Almacenes", "Logística", "Mensajería",
    "Tecnologías", "Soluciones", "Servicios", "Asesoría", "Gestoría", "Inversiones",
    "Patrimonio", "Promociones", "Inmobiliaria", "Hostelería", "Catering", "Cafetería",
]
SUFFIXES = ["S.L.", "S.A.", "Lda.", "Ltda.", "SL", "S.L.U.", "Unipessoal Lda.", "SCCL", "", ""]
FIRST = ["João", "José", "María", "Ana", "Inês", "Nuno", "Sofía", "Lucía", "Martí", "Jordi",
         "Núria", "Àlex", "Raúl", "Andrés", "Íñigo", "Begoña", "Conceição", "Gonçalo",
         "Tomás", "Álvaro", "Mercè", "Pau", "Laia", "Rui", "Filipa", "Joana", "Pedro",
         "Carmen", "Javier", "Elena"]
LAST = ["Silva", "Santos", "Ferreira", "Pereira", "Oliveira", "Costa", "Rodrigues",
        "Martins", "Sousa", "Gonçalves", "García", "Fernández", "González", "López",
        "Martínez", "Sánchez", "Pérez", "Gómez", "Martín", "Jiménez", "Puig", "Vila",
        "Ferrer", "Soler", "Serra", "Bosch", "Roca", "Font", "Casals", "Camps", "Muñoz",
        "Núñez", "Ibáñez", "Peña", "Simões", "Gonçalo", "Magalhães", "Brandão", "Patrício"]
LOCALS = ["info", "geral", "hola", "contacto", "comercial", "admin", "facturacion",
          "contabilidade", "ventas", "office"]
MAILBOXES = ["correo.example.com", "mail.example.pt", "example.net", "example.org"]
TLDS = ["example.com", "example.es", "example.pt", "example.cat"]
TAX_LETTERS = "ABCDEFGHJNPQRSUVW"
CATEGORIES = ["Retail", "Industry", "Services", "Public", "Health", "Education"]


# -- search ---------------------------------------------------------------------------------

class Generator:
    """Client rows with the service's folded columns, built fast from pre-folded words."""

    def __init__(self, seed=42):
        from services.contacts.validation import search_text

        self.rng = random.Random(seed)
        self.fold = {w: search_text(w) for w in set(WORDS + SUFFIXES + FIRST + LAST)}
        self.slug = {w: re.sub(r"[^a-z0-9]", "", folded) for w, folded in self.fold.items()}
        self.search_text = search_text
        self.start = datetime(2023, 1, 1, tzinfo=timezone.utc)

    def client(self, index):
        rng = self.rng
        fold = self.fold
        slug = self.slug
        number = f"{(index * 7919 + 104729) % 10**8:08d}"  # unique, digits spread out
        if rng.random() < 0.8:
            w1, w2, suffix = rng.choice(WORDS), rng.choice(WORDS), rng.choice(SUFFIXES)
            words = [w1, w2] + ([suffix] if suffix else [])
            kind = "company"
            company = None
            if rng.random() < 0.3:  # a trading name besides the legal one
                company = {"name": f"{w2} {rng.choice(WORDS)}", "website": None,
                           "email": None, "phone": None}
            email = (f"{rng.choice(LOCALS)}@{slug[w1]}{slug[w2]}{rng.randrange(100)}."
                     f"{rng.choice(TLDS)}")
            tax_id = rng.choice(TAX_LETTERS) + number
        else:
            first, last, last2 = rng.choice(FIRST), rng.choice(LAST), rng.choice(LAST)
            words = [first, last, last2]
            kind, company = "person", None
            email = f"{slug[first]}.{slug[last]}{rng.randrange(1000)}@{rng.choice(MAILBOXES)}"
            tax_id = number + "TRWAGMYFPDXBNJZSQVHLCKE"[int(number) % 23]
        name = " ".join(words)
        folded_name = " ".join(fold[w] for w in words)
        created = self.start + timedelta(seconds=rng.randrange(0, 3 * 365 * 86400))
        created_at = created.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        archived = rng.random() < 0.02
        category = rng.choice(CATEGORIES)
        record = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "version": 1,
            "kind": kind, "name": name, "tax_id": tax_id, "email": email, "phone": None,
            "country": "ES", "language": None, "gender": None, "category": category,
            "tags": [], "address": None, "company": company, "notes": None,
            "created_at": created_at, "updated_at": created_at, "archived": archived,
            "merged_into": None, "photo": None,
        }
        parts = [folded_name, tax_id.lower(), email]
        if company:
            parts.append(" ".join(fold[w] for w in company["name"].split()))
        return record, folded_name, " | ".join(parts)

    @staticmethod
    def row(record, folded_name, search):
        return (record["id"], WORKSPACE, 1, record["kind"], record["name"], record["tax_id"],
                record["email"], record["created_at"], record["updated_at"],
                "t" if record["archived"] else "f",
                orjson.dumps(record).decode(), "", "ES", record["category"],
                record["category"].lower(), "", folded_name, search)


COLUMNS = ("id", "workspace", "version", "kind", "name", "tax_id", "email", "created_at",
           "updated_at", "archived", "record", "phone", "country", "category", "category_key",
           "merged_into", "sort_name", "search")


def check_generator_matches_the_service(count=2000):
    """The fast folded columns equal what the service writes (``queries.row_values``)."""
    from services.contacts import queries

    generator = Generator(seed=7)
    for index in range(count):
        record, folded_name, search = generator.client(index)
        expected = queries.row_values(record, WORKSPACE)
        assert expected["sort_name"] == folded_name, (expected["sort_name"], folded_name)
        assert expected["search"] == search, (expected["search"], search)


def load_clients(url, count):
    """Migrate, then COPY ``count`` clients with the migration's indexes dropped and
    recreated; returns (a sample of the rows, seconds per phase).

    One transaction truncates the table and COPYs with FREEZE (rows written frozen and
    pages all-visible, as a vacuumed table's: what index-only scans need); the indexes
    are then rebuilt from their exact definitions, two at a time.
    """
    from services.contacts.service import migrate

    migrate(url)
    import psycopg2

    conn = psycopg2.connect(url)
    phases = {}
    samples = []
    with conn.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'clients' "
                       "AND indexname <> 'clients_pkey'")
        indexes = [definition for _, definition in cursor.fetchall()]
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'clients' "
                       "AND indexname <> 'clients_pkey'")
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("ALTER TABLE clients DROP CONSTRAINT clients_pkey")
        conn.commit()
        generator = Generator()
        started = time.perf_counter()
        chunks = queue.Queue(maxsize=2)  # generate the next chunk while one is copied

        def produce(size=50_000):
            for start in range(0, count, size):
                buffer = io.StringIO()
                writer = csv.writer(buffer)
                for index in range(start, min(count, start + size)):
                    record, folded_name, search = generator.client(index)
                    writer.writerow(Generator.row(record, folded_name, search))
                    if index % 997 == 0:
                        samples.append(record)
                buffer.seek(0)
                chunks.put(buffer)
            chunks.put(None)

        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        cursor.execute("TRUNCATE clients")
        while (buffer := chunks.get()) is not None:
            cursor.copy_expert(
                f"COPY clients ({', '.join(COLUMNS)}) FROM STDIN "
                "WITH (FORMAT csv, NULL '', FREEZE)", buffer)
        conn.commit()
        producer.join()
        phases["generate+copy"] = time.perf_counter() - started
    conn.close()

    started = time.perf_counter()
    statements = queue.Queue()
    for statement in ["ALTER TABLE clients ADD PRIMARY KEY (id)", *indexes]:
        statements.put(statement)
    errors = []

    def build():
        worker = psycopg2.connect(url)
        worker.autocommit = True
        try:
            with worker.cursor() as cursor:
                cursor.execute("SET maintenance_work_mem = '512MB'")
                while True:
                    try:
                        statement = statements.get_nowait()
                    except queue.Empty:
                        return
                    cursor.execute(statement)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            worker.close()

    builders = [threading.Thread(target=build) for _ in range(2)]
    for thread in builders:
        thread.start()
    for thread in builders:
        thread.join()
    if errors:
        raise errors[0]
    phases["indexes"] = time.perf_counter() - started
    started = time.perf_counter()
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("ANALYZE clients")
    conn.close()
    phases["analyze"] = time.perf_counter() - started
    return samples, phases


def unaccented(word):
    """How people type a word without its accents: "Fontanería" -> "fontaneria"."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", word)
                   if not unicodedata.combining(ch)).lower()


def search_terms(samples, rng, per_kind):
    """What people type: tax ids, emails, names, words, fragments, misses; with and
    without accents, in any case."""
    terms = []
    for _ in range(per_kind):
        record = rng.choice(samples)
        words = record["name"].split()
        terms += [
            ("tax id fragment", record["tax_id"][1:7]),
            ("full email", record["email"].upper()),
            ("email domain", record["email"].split("@")[1].split(".")[0]),
            ("full name", record["name"].upper()),
            ("two words", " ".join(words[:2])),
            ("one word", rng.choice(WORDS)),
            ("word, no accents", unaccented(rng.choice(WORDS))),
            ("3 letters", rng.choice(WORDS)[:3]),
            ("2 letters", rng.choice(WORDS)[:2]),
            ("no match", f"zq{rng.randrange(10**6)}x"),
        ]
    return terms


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def search_latency(count, per_kind, baseline_per_kind):
    from services.contacts import queries

    check_generator_matches_the_service()
    with postgres_database("search") as (url, _):
        with Timer() as load:
            samples, phases = load_clients(url, count)
        print(f"  loaded {count:,} clients in {load.seconds:.1f}s ("
              + ", ".join(f"{k} {v:.1f}s" for k, v in phases.items()) + ")", flush=True)
        database = get_database(url)
        rng = random.Random(1)
        warm = search_terms(samples, rng, 3)
        terms = search_terms(samples, rng, per_kind)
        ours, by_kind, found = [], {}, 0
        with database.read() as conn:
            for _, q in warm:
                queries.list_clients(conn, WORKSPACE, {"q": q})
            for kind, q in terms:
                started = time.perf_counter()
                page = queries.list_clients(conn, WORKSPACE, {"q": q})
                elapsed = (time.perf_counter() - started) * 1000
                ours.append(elapsed)
                by_kind.setdefault(kind, []).append(elapsed)
                found += bool(page["items"])
        baseline = []
        plain = text("SELECT id, record FROM clients WHERE workspace = :w AND archived = false "
                     "AND name ILIKE :p ORDER BY name, id LIMIT 51")
        with database.read() as conn:
            for kind, q in terms[:baseline_per_kind * 10]:
                started = time.perf_counter()
                conn.execute(plain, {"w": WORKSPACE, "p": f"%{q}%"}).all()
                baseline.append((time.perf_counter() - started) * 1000)
        for kind, values in by_kind.items():
            print(f"    {kind:<18} p50 {percentile(values, .5):7.2f} ms   "
                  f"p99 {percentile(values, .99):7.2f} ms", flush=True)
        from services.common.db import forget_database

        forget_database(url)
        return (percentile(ours, .5), percentile(ours, .99), percentile(baseline, .5),
                percentile(baseline, .99), len(ours), len(baseline))


# -- create over HTTP -------------------------------------------------------------------------

def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SubprocessStack:
    """contacts, projects, billing and the gateway as ``clientfolio serve`` processes."""

    SERVICES = ("contacts", "projects", "billing", "gateway")

    def __init__(self, amqp_uri, database_urls, data_dir):
        self.env = dict(os.environ, AMQP_URI=amqp_uri, CLIENTFOLIO_DATA_DIR=data_dir,
                        CLIENTFOLIO_LOG_LEVEL="WARNING",
                        **{f"{s.upper()}_DATABASE_URL": url for s, url in database_urls.items()})
        self.ports = {s: _free_port() for s in self.SERVICES}
        self.processes = {}
        self.logs = tempfile.TemporaryDirectory()
        self.base = [sys.executable, "-m", "clientfolio.cli"]

    def start(self):
        subprocess.run(self.base + ["migrate"], env=self.env, check=True,
                       stdout=subprocess.DEVNULL)
        for service in self.SERVICES:
            log = open(os.path.join(self.logs.name, f"{service}.log"), "wb")
            env = dict(self.env, CLIENTFOLIO_HTTP_PORT=str(self.ports[service]))
            self.processes[service] = subprocess.Popen(self.base + ["serve", service], env=env,
                                                       stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        for service in self.SERVICES:
            url = f"http://127.0.0.1:{self.ports[service]}/ready"
            while True:
                if self.processes[service].poll() is not None:
                    raise RuntimeError(f"{service} exited; see {self.logs.name}")
                try:
                    if requests.get(url, timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{service} not ready")
                time.sleep(0.2)
        token = subprocess.run(self.base + ["token", "create", "--workspace", WORKSPACE,
                                            "--role", "admin"], env=self.env, check=True,
                               capture_output=True, text=True).stdout.strip()
        return token

    @property
    def url(self):
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.logs.cleanup()


def hammer(workers, count, request):
    """``count`` calls of ``request(session, i)`` from ``workers`` threads; returns calls/s."""
    counter = iter(range(count))
    lock = threading.Lock()
    failures = []

    def work():
        session = requests.Session()
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            response = request(session, index)
            if response.status_code >= 300:
                failures.append(response.status_code)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    with Timer() as timer:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} failed requests, e.g. {failures[:5]}")
    return rate(count, timer.seconds)


def create_throughput(kind, creates, healths, workers=20):
    with vhost() as amqp_uri, tempfile.TemporaryDirectory() as data_dir, \
            _databases(kind) as urls:
        stack = SubprocessStack(amqp_uri, urls, data_dir)
        try:
            token = stack.start()
            headers = {"Authorization": f"Bearer {token}"}
            run = uuid.uuid4().hex[:6]

            def create(session, index):
                return session.post(f"{stack.url}/api/v1/clients", headers=headers, timeout=60,
                                    json={"name": f"Cliente {run} {index}",
                                          "email": f"c{index}@{run}.example.com",
                                          "country": "ES", "tags": ["bench"]})

            def health(session, index):
                return session.get(f"{stack.url}/health", timeout=60)

            hammer(workers, 100, create)  # warm-up
            hammer(workers, 200, health)
            created = hammer(workers, creates, create)
            answered = hammer(workers, healths, health)
            return created, answered
        finally:
            stack.stop()


class _databases:
    def __init__(self, kind):
        self.kind = kind
        self.stack = []

    def __enter__(self):
        urls = {}
        for service in SubprocessStack.SERVICES:
            manager = database(self.kind, service)
            urls[service] = manager.__enter__()[0]
            self.stack.append(manager)
        return urls

    def __exit__(self, *exc):
        for manager in reversed(self.stack):
            manager.__exit__(*exc)


def run(report, quick=False):
    count = 100_000 if quick else 1_000_000
    per_kind = 20 if quick else 50
    p50, p99, base50, base99, n, n_base = search_latency(count, per_kind,
                                                         baseline_per_kind=3 if quick else 5)
    report.add("client search p50 (postgres)", f"{count:,} clients, {n} q", p50,
               f"plain name ILIKE scan ({n_base} q)", base50, goal=">= 20x", unit="ms",
               higher_is_better=False)
    report.add("client search p99 (postgres)", f"{count:,} clients, {n} q", p99,
               f"plain name ILIKE scan ({n_base} q)", base99, goal="<= 25 ms, >= 20x",
               unit="ms", higher_is_better=False)
    creates = 1000 if quick else 4000
    for kind in ("sqlite", "postgres"):
        created, answered = create_throughput(kind, creates, creates * 2)
        report.add(f"create client over HTTP ({kind})", f"{creates} POSTs, 20 clients",
                   created, "gateway /health, 20 clients", answered, goal="-")


if __name__ == "__main__":
    import warnings

    from .support import Report

    warnings.filterwarnings("ignore")
    run(Report(), quick="--quick" in sys.argv)
