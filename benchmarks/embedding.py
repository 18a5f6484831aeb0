"""Embedding costs and similarity search, each as a ratio to a baseline measured in the same run.

    python benchmarks/embedding.py [--spans 200000] [--search-spans 1000000] [--search-shapes 100000]

(a) texts/s of the default (ONNX) backend, the torch backend and the inline encoder (encode +
    store), against plain ``SentenceTransformer.encode`` on the same shape texts, and the
    top-5 neighbour overlap of ONNX with torch;
(b) spans/s of ``inline`` and ``deferred`` mode on ``--spans`` spans drawn from about 300 shapes
    (Zipf-distributed, ids and numbers varying per span), from a cold encoder, against the
    exporter with embeddings off, and the fraction of spans whose shape has a vector when the
    last export returns and after ``force_flush``;
(c) bytes per span on disk (spans + shapes, tables and indexes) against the same spans stored
    with a per-span ``vector(384)`` column (same span indexes, no vector index: that would
    only add to the per-span layout);
(d) ``similar_spans`` latency p50/p95 and recall@10 against an exact scan, unfiltered and
    filtered (service, status, time window), at ``--search-spans`` spans over a dictionary of
    ``--search-shapes`` texts. These vectors are SYNTHETIC: unit vectors scattered around
    1000 random centres (like real shape embeddings, which cluster by service and error),
    inserted directly, because embedding 100k texts would take ~10 minutes here.

Machines are noisy (2 shared cores here): compare the ratios, not the times.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

import numpy as np
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from opentelemetry_exporter_pgvector import PgvectorSettings, PgvectorSpanExporter
from opentelemetry_exporter_pgvector.convert.glossary import GLOSSARY
from opentelemetry_exporter_pgvector.db.database import Database
from opentelemetry_exporter_pgvector.db.embedded import server_parent_directory
from opentelemetry_exporter_pgvector.embedding.backends import TorchBackend
from opentelemetry_exporter_pgvector.embedding.encoder import ShapeEncoder, load_encoder_backend
from opentelemetry_exporter_pgvector.embedding.model import default_model_path
from opentelemetry_exporter_pgvector.query.telemetry import TelemetryQuery

BATCH = 512
# Words of telemetry for part (d)'s synthetic shape texts.
_WORDS = [
    "connection", "refused", "reset", "timeout", "timed", "out", "error", "failed", "deadline",
    "exceeded", "lock", "wait", "deadlock", "duplicate", "key", "unique", "constraint", "foreign",
    "select", "insert", "update", "delete", "get", "post", "put", "http", "grpc", "redis",
    "postgresql", "mysql", "payments", "checkout", "inventory", "orders", "stock", "cart", "user",
    "session", "token", "expired", "denied", "permission", "forbidden", "not", "found", "pool",
    "exhausted", "memory", "disk", "space", "json", "parse", "dns", "host", "resolve", "tls",
    "certificate", "handshake", "rate", "limit", "quota", "throttled", "client", "server",
    "internal", "ok", "status", "request", "response",
]
SERVICES = ("frontend", "checkout", "payments", "inventory", "shipping", "search")
ERRORS = (
    (TimeoutError, "connection to {svc}-db:5432 timed out after {n} ms"),
    (ConnectionRefusedError, "could not connect to server {ip}: Connection refused"),
    (ValueError, "invalid order {n}: quantity {m} exceeds stock"),
    (KeyError, "sku-{n} not found"),
    (PermissionError, "token for user {uuid} expired at 2026-01-0{d}T10:00:00Z"),
)


# Questions describing failures in a person's words, for the text queries of (d).
_FAILURE_QUESTIONS = (
    "two writers blocked each other on the same rows",
    "the partner's certificate expired and every https call fails",
    "calls to payments hang until the deadline passes",
    "the database turns away new clients, it is full",
    "customers signing up twice get an error, the email is taken",
)


def workload(count: int, seed: int = 1) -> list[ReadableSpan]:
    """``count`` spans from ~300 shapes: 6 services x 40 operations (Zipf), some failing in 5 ways.

    Every span has per-request values (url.path, client.address); one operation in 11 puts
    the id in its span name and failures put ids, numbers, IPs and times in their messages, so
    about one span in ten has raw components never seen before (shape cache misses).
    """
    rng = random.Random(seed)
    collected = InMemorySpanExporter()
    tracers = {}
    for service in SERVICES:
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(collected))
        tracers[service] = provider.get_tracer("bench")
    operations = [(svc, f"{verb} /api/{svc}/{noun}/{{id}}", verb)
                  for svc in SERVICES for verb in ("GET", "POST", "PUT", "DELETE")
                  for noun in ("orders", "items", "users", "carts", "prices", "stock", "labels", "queries",
                               "sessions", "refunds")]
    weights = [1 / (rank + 1) for rank in range(len(operations))]
    picks = rng.choices(range(len(operations)), weights, k=count)
    for pick in picks:
        svc, route, verb = operations[pick]
        failure = ERRORS[pick % len(ERRORS)] if pick % 7 == 3 and rng.random() < 0.3 else None
        n = rng.randint(1, 10**6)
        span = tracers[svc].start_span(
            route.replace("{id}", str(n)) if pick % 11 == 5 else route, kind=SpanKind.SERVER,
            attributes={"http.request.method": verb, "http.route": route,
                        "url.path": route.replace("{id}", str(n)),
                        "http.response.status_code": 500 if failure else 200,
                        "client.address": f"10.0.{n % 250}.9"},
        )
        if failure:
            error = failure[0](failure[1].format(svc=svc, n=n, m=n % 97, ip=f"10.1.{n % 250}.4",
                                                 uuid=f"{n:08x}-0000-4000-8000-{n:012x}", d=n % 9 + 1))
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, str(error)))
        span.end()
    return list(collected.get_finished_spans())


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def part_a(settings: PgvectorSettings, texts: list[str]) -> None:
    from sentence_transformers import SentenceTransformer

    plain = SentenceTransformer(str(default_model_path()), device="cpu", local_files_only=True)
    plain.encode(texts[:64], normalize_embeddings=True)  # warm up
    started = time.perf_counter()
    reference = plain.encode(texts, batch_size=64, normalize_embeddings=True)
    baseline = rate(len(texts), time.perf_counter() - started)
    onnx = load_encoder_backend(settings)
    onnx.encode(texts[:64])
    started = time.perf_counter()
    onnx_vectors = onnx.encode(texts)
    onnx_rate = rate(len(texts), time.perf_counter() - started)
    torch = TorchBackend(default_model_path())
    torch.encode(texts[:64])
    started = time.perf_counter()
    torch.encode(texts)
    torch_rate = rate(len(texts), time.perf_counter() - started)
    database = Database(settings)
    database.migrate()
    encoder = ShapeEncoder(settings, database)
    rows = [(i, "span", "svc", "SERVER", "OK", onnx.model_name, text) for i, text in enumerate(texts)]
    started = time.perf_counter()
    encoder.submit(rows)
    encoder.flush(600)
    encoder_rate = rate(len(texts), time.perf_counter() - started)
    encoder.close()
    database.close()
    top = 5
    ours = np.argsort(-(onnx_vectors @ onnx_vectors.T), axis=1)[:, 1 : top + 1]
    theirs = np.argsort(-(reference @ reference.T), axis=1)[:, 1 : top + 1]
    overlap = np.mean([len(set(a) & set(b)) / top for a, b in zip(ours, theirs, strict=True)])
    print(f"(a) {len(texts)} distinct shape texts, texts/s and x plain SentenceTransformer.encode")
    for label, value in (("plain SentenceTransformer.encode (baseline)", baseline),
                         ("default ONNX backend", onnx_rate), ("torch backend", torch_rate),
                         ("ShapeEncoder (ONNX, encode + store)", encoder_rate)):
        print(f"    {label:44} {value:8.0f} {value / baseline:6.2f}x")
    print(f"    top-{top} neighbour overlap ONNX vs sentence-transformers: {overlap:.3f}")


def export_all(settings: PgvectorSettings, spans: list[ReadableSpan]) -> tuple[float, PgvectorSpanExporter]:
    exporter = PgvectorSpanExporter(settings)
    exporter.database.migrate()
    started = time.perf_counter()
    for start in range(0, len(spans), BATCH):
        assert exporter.export(spans[start : start + BATCH]).name == "SUCCESS"
    return time.perf_counter() - started, exporter


def part_bc(base: dict[str, object], spans: list[ReadableSpan]) -> None:
    results = {}
    for mode in ("off", "deferred", "inline"):
        settings = PgvectorSettings(**base, schema=f"bench_{mode}", embedding=mode)
        seconds, exporter = export_all(settings, spans)
        results[mode] = rate(len(spans), seconds)
        if mode == "inline":
            with exporter.database.connect() as conn:
                conn.autocommit = True
                at_return = _embedded_fraction(conn, "bench_inline")
                flush_started = time.perf_counter()
                exporter.force_flush(600_000)
                flushed_seconds = seconds + time.perf_counter() - flush_started
                results["inline incl. force_flush"] = rate(len(spans), flushed_seconds)
                after_flush = _embedded_fraction(conn, "bench_inline")
                shapes = conn.execute("SELECT count(*) FROM bench_inline.otel_shapes").fetchone()[0]
                ours, per_span = _bytes_per_span(conn, len(spans))
        exporter.shutdown()
    baseline = results["off"]
    print(f"(b) {len(spans)} spans from {shapes} shapes in batches of {BATCH}, cold encoder;"
          " spans/s and x off")
    for mode, value in results.items():
        print(f"    {mode:26} {value:8.0f} {value / baseline:6.2f}x")
    print(f"    spans whose shape has a vector: {at_return:.3f} when the last export returned, "
          f"{after_flush:.3f} after force_flush")
    print(f"(c) bytes per span (tables + indexes): shapes layout {ours:.0f},"
          f" per-span vector(384) {per_span:.0f}, ratio {ours / per_span:.2f}x")


def _embedded_fraction(conn, schema: str) -> float:  # type: ignore[no-untyped-def]
    row = conn.execute(
        f"SELECT avg((h.embedding IS NOT NULL)::int) FROM {schema}.otel_spans s"
        f" JOIN {schema}.otel_shapes h USING (shape_key)"
    ).fetchone()
    return float(row[0])


def _bytes_per_span(conn, spans: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    conn.execute("VACUUM ANALYZE bench_inline.otel_spans")
    conn.execute("VACUUM ANALYZE bench_inline.otel_shapes")
    conn.execute("DROP TABLE IF EXISTS bench_inline.per_span")
    conn.execute("CREATE TABLE bench_inline.per_span"
                 " (LIKE bench_inline.otel_spans INCLUDING DEFAULTS INCLUDING INDEXES)")
    conn.execute("ALTER TABLE bench_inline.per_span DROP COLUMN shape_key, ADD COLUMN embedding vector(384)")
    columns = [name for (name,) in conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'bench_inline.per_span'::regclass AND attnum > 0"
        " AND NOT attisdropped AND attname <> 'embedding' ORDER BY attnum")]
    listed = ", ".join(f's."{name}"' for name in columns)
    conn.execute(f"INSERT INTO bench_inline.per_span ({', '.join(columns)}, embedding)"
                 f" SELECT {listed}, h.embedding"
                 " FROM bench_inline.otel_spans s JOIN bench_inline.otel_shapes h USING (shape_key)")
    conn.execute("VACUUM ANALYZE bench_inline.per_span")
    ours = conn.execute(
        "SELECT (SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits"
        " WHERE inhparent = 'bench_inline.otel_spans'::regclass)"
        " + pg_total_relation_size('bench_inline.otel_shapes')"
    ).fetchone()[0]
    per_span = conn.execute("SELECT pg_total_relation_size('bench_inline.per_span')").fetchone()[0]
    return float(ours) / spans, float(per_span) / spans


def part_d(base: dict[str, object], span_count: int, shape_count: int, queries: int = 100) -> None:
    settings = PgvectorSettings(**base, schema="bench_search", embedding="deferred")
    database = Database(settings)
    with database.connect() as conn:  # a run against --dsn starts from an empty schema too
        conn.execute("DROP SCHEMA IF EXISTS bench_search CASCADE")
    database.migrate()
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(1000, 384)).astype(np.float32)
    noise = rng.normal(scale=0.6, size=(shape_count, 384)).astype(np.float32)
    vectors = centres[rng.integers(0, 1000, shape_count)] + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    services = np.array([f"svc{i % 40}" for i in range(shape_count)])
    # texts of 8 words from a 2,000-word vocabulary, common words far more often (Zipf), so the
    # full-text half of a hybrid search has as many matches to rank as real shapes give it
    vocabulary = np.array(_WORDS + [f"w{i}" for i in range(2000 - len(_WORDS))])

    def words(count: int) -> str:
        return " ".join(vocabulary[np.minimum(rng.zipf(1.3, count) - 1, len(vocabulary) - 1)])

    statuses = np.where(np.arange(shape_count) % 10 == 0, "ERROR", "OK")
    # failures start with a failure's meaning as real failed shapes do (convert/glossary.py): 500
    # shapes of each of the 20, for a question about one of them to rank (query/concepts.py)
    meanings = [gloss.meaning for gloss in GLOSSARY]

    def text_of(i: int) -> str:
        return f"{meanings[(i // 10) % len(meanings)]} | {words(8)}" if statuses[i] == "ERROR" else words(8)
    started = time.perf_counter()
    with database.connect() as conn:
        conn.execute("DROP INDEX bench_search.otel_shapes_embedding")  # built once below, not row by row
        with conn.cursor().copy("COPY bench_search.otel_shapes (shape_key, service_name, kind, status_code,"
                                " model, text, embedding) FROM STDIN") as copy:
            for i in range(shape_count):
                copy.write(f"{i}\t{services[i]}\tSERVER\t{statuses[i]}\tall-MiniLM-L6-v2\t{text_of(i)}\t["
                           + ",".join(f"{x:.6f}" for x in vectors[i]) + "]\n")
        # every shape gets a span; the rest follow a Zipf-like law; spans spread over 2 days
        conn.execute(
            "INSERT INTO bench_search.otel_spans (start_time, span_id, resource_id, trace_id, service_name,"
            " name, kind, status_code, shape_key)"
            " SELECT now() - (g %% 172800) * interval '1 second', g, 1, gen_random_uuid(), 'svc', 'x',"
            " 'SERVER', 'OK',"
            " CASE WHEN g < %s THEN g ELSE floor(%s * power(random(), 3))::bigint END"
            " FROM generate_series(0, %s - 1) g",
            (shape_count, shape_count, span_count),
        )
        conn.commit()
        conn.autocommit = True
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("CREATE INDEX otel_shapes_embedding ON bench_search.otel_shapes"
                     " USING hnsw (embedding vector_cosine_ops)")
        conn.execute("VACUUM ANALYZE bench_search.otel_spans")
        conn.execute("VACUUM ANALYZE bench_search.otel_shapes")
        since = conn.execute("SELECT now() - interval '6 hours'").fetchone()[0]
        in_window = {key for (key,) in conn.execute(
            "SELECT DISTINCT shape_key FROM bench_search.otel_spans WHERE start_time >= %s", (since,))}
    print(f"(d) {span_count} spans, {shape_count} shapes with SYNTHETIC clustered vectors (loaded in "
          f"{time.perf_counter() - started:.0f} s); {queries} queries, k=10")
    window_mask = np.isin(np.arange(shape_count), list(in_window))
    cases = {
        "no filter": ({}, np.ones(shape_count, bool)),
        "service (1 of 40)": ({"service": "svc3"}, services == "svc3"),
        "status ERROR (10%)": ({"status": "ERROR"}, statuses == "ERROR"),
        "last 6 h window": ({"since": since}, window_mask),
    }
    with TelemetryQuery(settings) as query:
        for label, (filters, allowed) in cases.items():
            latencies, recalls = [], []
            for _ in range(queries):
                jitter = rng.normal(scale=0.02, size=384).astype(np.float32)
                target = vectors[rng.integers(0, shape_count)] + jitter
                scores = np.where(allowed, vectors @ target, -np.inf)
                exact = set(np.argsort(-scores)[:10].tolist())
                started = time.perf_counter()
                found = query.similar_spans(vector=target.tolist(), k=10, **filters)
                latencies.append((time.perf_counter() - started) * 1000)
                recalls.append(len(exact & {r.shape_key for r in found}) / 10)
            latencies.sort()
            p95 = latencies[int(len(latencies) * 0.95) - 1]
            print(f"    {label:22} p50 {statistics.median(latencies):6.1f} ms  p95 "
                  f"{p95:6.1f} ms  recall@10 {statistics.mean(recalls):.3f}")
        # A text query: the model encodes it, then the hybrid statement fuses the nearest shapes
        # with the full-text matches (no exact ranking to compare with; the encoding timed apart);
        # every other one describes a failure, so its shapes are ranked too.
        backend = load_encoder_backend(settings)
        encode, hybrid = [], []
        for number in range(queries):
            text = words(6) if number % 2 else _FAILURE_QUESTIONS[number // 2 % len(_FAILURE_QUESTIONS)]
            started = time.perf_counter()
            backend.encode([text])
            encode.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            query.similar_spans(text=text, k=10)
            hybrid.append((time.perf_counter() - started) * 1000)
        for label, latencies in (("text: encode alone", encode), ("text: hybrid, encode+SQL", hybrid)):
            latencies.sort()
            print(f"    {label:24} p50 {statistics.median(latencies):6.1f} ms  p95 "
                  f"{latencies[int(len(latencies) * 0.95) - 1]:6.1f} ms")
    database.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--search-spans", type=int, default=1_000_000)
    parser.add_argument("--search-shapes", type=int, default=100_000)
    parser.add_argument("--parts", default="abcd", help="which parts to run, e.g. bc")
    parser.add_argument("--dsn", default="", help="use this server instead of a fresh embedded one")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    workdir = server_parent_directory(prefix="otel-pgvector-bench-")  # reachable by the server as root
    base: dict[str, object] = {"dsn": args.dsn, "embedded_dir": workdir / "pg"}
    spans = workload(args.spans)
    if "a" in args.parts:
        converter_shapes = {}
        from opentelemetry_exporter_pgvector.convert.shapes import ShapeBuilder
        from opentelemetry_exporter_pgvector.convert.spans import SpanConverter

        converter = SpanConverter(65536, ShapeBuilder("all-MiniLM-L6-v2"))
        for span in spans[:50_000]:
            converter.convert(span, converter_shapes)
        texts = [row[-1] for row in converter_shapes.values()]
        texts += [f"{text} (variant {i})" for i in range(2) for text in texts]  # more distinct texts
        part_a(PgvectorSettings(**base, schema="bench_a"), texts)
    if "b" in args.parts or "c" in args.parts:
        part_bc(base, spans)
    if "d" in args.parts:
        part_d(base, args.search_spans, args.search_shapes)


if __name__ == "__main__":
    main()
