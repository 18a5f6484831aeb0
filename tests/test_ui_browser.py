"""``otel-pgvector ui`` in a real browser: headless Chromium from Debian, driven by Selenium.

The UI serves a schema the README's ``otel-pgvector demo`` filled (``demo_data``), plus one
trace whose span name and attributes are HTML. Every expected value (which traces, how many
spans, which failed, the exception) is read from the database with SQL of the test's own,
never from the UI's code. Each test reads the browser's console log: any error there (a
script error, a Content-Security-Policy violation, a missing resource) fails it.

Screenshots of the main pages are saved under ``$OTEL_PGVECTOR_UI_SCREENSHOTS``, or the
test session's temporary directory (``ui-screenshotsN``); docs/images/ui-waterfall.png is
the ``ui-waterfall.png`` one.

Selenium is given chromedriver's path, so Selenium Manager (which would download a driver)
never runs; nothing is fetched from the network.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode
from test_suggested_commands import DemoData, demo_data  # noqa: F401  (the module's fixture)
from ui_server import running_ui

from opentelemetry_exporter_pgvector import PgvectorSpanExporter
from opentelemetry_exporter_pgvector.config import PgvectorSettings

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them with apt-get)",
)
selenium = pytest.importorskip("selenium", reason="needs selenium (the test extra)")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

SCRIPT_NAME = "<script>window.pwned = 1</script>"
IMAGE_VALUE = '<img src=x onerror="window.pwned = 2">'
WAIT_SECONDS = 30


@dataclass(frozen=True)
class Ui:
    url: str
    demo: DemoData
    server_dsn: str
    xss_trace_id: str

    def sql(self, statement: str, *params: object) -> list[tuple[object, ...]]:
        """Rows of a query of the test's own on the demo's schema."""
        with psycopg.connect(self.server_dsn, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{self.demo.schema}", public')
            return conn.execute(statement, params).fetchall()


def _export_hostile_trace(settings: PgvectorSettings) -> str:
    """A failed span named like a script, with an attribute that is an image with a handler."""
    provider = TracerProvider(resource=Resource.create({"service.name": "<b>hostile</b>"}))
    provider.add_span_processor(SimpleSpanProcessor(PgvectorSpanExporter(settings)))
    span = provider.get_tracer("xss").start_span(SCRIPT_NAME, attributes={"note": IMAGE_VALUE})
    span.set_status(Status(StatusCode.ERROR, IMAGE_VALUE))
    span.end()
    provider.shutdown()
    return f"{span.get_span_context().trace_id:032x}"


@pytest.fixture(scope="module")
def ui(demo_data: DemoData, server_dsn: str) -> Iterator[Ui]:  # noqa: F811
    settings = PgvectorSettings(dsn=server_dsn, schema=demo_data.schema, embedding="off")
    xss_trace_id = _export_hostile_trace(settings)
    with running_ui(demo_data.env) as url:
        yield Ui(url.rstrip("/"), demo_data, server_dsn, xss_trace_id)


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("OTEL_PGVECTOR_UI_SCREENSHOTS")
    directory = Path(chosen) if chosen else tmp_path_factory.mktemp("ui-screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1500,1000",
                     "--disable-gpu", f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _console_errors(browser: WebDriver) -> list[str]:
    """The browser console's errors since the last call (reading the log empties it)."""
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def _open(browser: WebDriver, url: str) -> None:
    """Load ``url`` and wait for the page's script to have run; then no console error."""
    browser.get(url)
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda b: b.execute_script("return document.readyState") == "complete")
    assert _console_errors(browser) == []


def _listed_traces(browser: WebDriver) -> list[str]:
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.trace-row")
    return [row.get_attribute("data-trace-id") or "" for row in rows]


def test_the_trace_list_shows_the_demo_traces_newest_first(ui: Ui, browser: WebDriver,
                                                           screenshots: Path) -> None:
    _open(browser, f"{ui.url}/traces?since=24h&limit=1000")
    expected = [row[0] for row in ui.sql(
        "SELECT otel_trace_id_hex(trace_id) FROM otel_spans GROUP BY trace_id ORDER BY min(start_time) DESC")]
    assert len(expected) > 50  # the demo's requests and the hostile trace
    assert _listed_traces(browser) == expected
    browser.save_screenshot(str(screenshots / "ui-traces.png"))


def test_a_failed_trace_shows_its_waterfall_errors_and_exception(ui: Ui, browser: WebDriver,
                                                                 screenshots: Path) -> None:
    _open(browser, f"{ui.url}/traces?since=24h&limit=1000")
    browser.find_element(By.CSS_SELECTOR, f'tr[data-trace-id="{ui.demo.failing_trace_id}"] a').click()
    WebDriverWait(browser, WAIT_SECONDS).until(
        expected_conditions.presence_of_element_located((By.ID, "waterfall")))
    assert _console_errors(browser) == []
    assert browser.current_url == f"{ui.url}/traces/{ui.demo.failing_trace_id}"

    spans = ui.sql("SELECT otel_span_id_hex(span_id), status_code FROM otel_spans WHERE trace_id = %s::uuid",
                   ui.demo.failing_trace_id)
    rows = browser.find_elements(By.CSS_SELECTOR, "#waterfall g.span-row")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#waterfall rect.bar")) == len(spans) == len(rows)
    assert {row.get_attribute("data-span-id") for row in rows} == {span_id for span_id, _ in spans}
    marked = {mark.find_element(By.XPATH, "..").get_attribute("data-span-id")
              for mark in browser.find_elements(By.CSS_SELECTOR, "#waterfall .error-mark")}
    assert marked == {span_id for span_id, status in spans if status == "ERROR"}
    assert ui.demo.failing_span_id in marked
    browser.save_screenshot(str(screenshots / "ui-trace.png"))

    (exception_type, message, stacktrace), = ui.sql(
        "SELECT exception_type, e -> 'attributes' ->> 'exception.message',"
        " e -> 'attributes' ->> 'exception.stacktrace'"
        " FROM otel_spans, jsonb_array_elements(events) e"
        " WHERE otel_span_id_hex(span_id) = %s AND e ->> 'name' = 'exception'", ui.demo.failing_span_id)
    browser.find_element(By.CSS_SELECTOR, f'a.span-link[data-span-id="{ui.demo.failing_span_id}"]').click()
    details = _details(browser, ui.demo.failing_span_id)
    assert browser.current_url.endswith(f"?span={ui.demo.failing_span_id}")  # shareable
    assert details.find_element(By.CSS_SELECTOR, ".exception-type").text == exception_type
    assert details.find_element(By.CSS_SELECTOR, ".exception-message").text == message
    stack = details.find_element(By.CSS_SELECTOR, ".stacktrace").text
    assert stack and stack.splitlines()[-1] == str(stacktrace).strip().splitlines()[-1]
    selected = [row.get_attribute("data-span-id") for row in rows
                if "selected" in (row.get_attribute("class") or "").split()]
    assert selected == [ui.demo.failing_span_id]
    assert _console_errors(browser) == []
    browser.save_screenshot(str(screenshots / "ui-waterfall.png"))

    browser.back()  # the span's details close; the trace stays
    WebDriverWait(browser, WAIT_SECONDS).until(lambda b: b.find_element(By.ID, "no-span").is_displayed())
    assert browser.find_elements(By.CSS_SELECTOR, "section.span-details") == []
    assert browser.current_url == f"{ui.url}/traces/{ui.demo.failing_trace_id}"
    browser.forward()
    _details(browser, ui.demo.failing_span_id)
    browser.refresh()  # the shared URL shows the same span, rendered by the server
    _details(browser, ui.demo.failing_span_id)
    assert _console_errors(browser) == []


def _details(browser: WebDriver, span_id: str) -> WebElement:
    """The details of ``span_id`` once they are shown (fetched when the span was clicked)."""
    locator = (By.CSS_SELECTOR, f'#span-panel section.span-details[data-span-id="{span_id}"]')
    WebDriverWait(browser, WAIT_SECONDS).until(expected_conditions.visibility_of_element_located(locator))
    return browser.find_element(*locator)


def test_the_search_filters_narrow_the_list_and_stay_in_the_url(ui: Ui, browser: WebDriver) -> None:
    _open(browser, f"{ui.url}/traces?since=24h&limit=1000")
    everything = _listed_traces(browser)
    Select(browser.find_element(By.NAME, "status")).select_by_value("ERROR")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    WebDriverWait(browser, WAIT_SECONDS).until(lambda b: "status=ERROR" in b.current_url)
    assert _console_errors(browser) == []
    failed = {row[0] for row in ui.sql(
        "SELECT DISTINCT otel_trace_id_hex(trace_id) FROM otel_spans WHERE status_code = 'ERROR'")}
    assert set(_listed_traces(browser)) == failed and 0 < len(failed) < len(everything)

    # a span threshold that some failed payments spans reach (their median), in whole microseconds
    (median_ns,), = ui.sql("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_ns) FROM otel_spans"
                           " WHERE status_code = 'ERROR' AND service_name = 'payments'")
    threshold_ns = int(median_ns) // 1000 * 1000  # type: ignore[call-overload]
    browser.find_element(By.NAME, "service").send_keys("payments")
    browser.find_element(By.NAME, "min_duration").send_keys(f"{threshold_ns / 1e6:.3f}")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    WebDriverWait(browser, WAIT_SECONDS).until(lambda b: "min_duration=" in b.current_url)
    assert "service=payments" in browser.current_url and "name=" not in browser.current_url  # blanks left out
    slow_payments = {row[0] for row in ui.sql(
        "SELECT DISTINCT otel_trace_id_hex(trace_id) FROM otel_spans WHERE status_code = 'ERROR'"
        " AND service_name = 'payments' AND duration_ns >= %s", threshold_ns)}
    assert slow_payments and slow_payments <= failed
    assert set(_listed_traces(browser)) == slow_payments

    browser.back()  # the previous search, as it was
    WebDriverWait(browser, WAIT_SECONDS).until(lambda b: "min_duration" not in b.current_url)
    assert set(_listed_traces(browser)) == failed


def test_a_span_named_like_a_script_is_shown_as_text(ui: Ui, browser: WebDriver) -> None:
    _open(browser, f"{ui.url}/traces/{ui.xss_trace_id}")
    (span_id,), = ui.sql("SELECT otel_span_id_hex(span_id) FROM otel_spans WHERE trace_id = %s::uuid",
                         ui.xss_trace_id)
    label = browser.find_element(By.CSS_SELECTOR, f'g.span-row[data-span-id="{span_id}"] .span-label')
    assert label.text == SCRIPT_NAME
    browser.find_element(By.CSS_SELECTOR, f'a.span-link[data-span-id="{span_id}"]').click()
    details = _details(browser, span_id)
    assert details.find_element(By.TAG_NAME, "h2").text == SCRIPT_NAME
    assert IMAGE_VALUE in details.find_element(By.CSS_SELECTOR, "table.attributes").text
    assert browser.find_elements(By.CSS_SELECTOR, "main script, main img") == []  # not markup
    assert browser.execute_script("return window.pwned") is None  # nothing ran
    _open(browser, f"{ui.url}/traces?since=24h&limit=1000")
    assert SCRIPT_NAME in browser.find_element(By.CSS_SELECTOR, f'tr[data-trace-id="{ui.xss_trace_id}"]').text
    assert browser.execute_script("return window.pwned") is None


def test_every_page_loads_without_console_errors(ui: Ui, browser: WebDriver, screenshots: Path) -> None:
    demo = ui.demo
    pages = {
        "ui-errors": "/errors",
        "ui-services": "/services?since=24h",
        "ui-services-operations": "/services?by=operation",
        "ui-logs": "/logs?q=timed+out",
        "ui-log-patterns": "/logs?mode=patterns",
        "ui-similar-logs": "/logs?mode=similar&q=payment+timed+out",
        "ui-metrics": "/metrics",
        "ui-metric-chart": "/metrics?name=http.server.request.duration&agg=p95",
        "ui-compare": f"/compare?a={demo.slow_trace_id}&b={demo.failing_trace_id}",
        "ui-similar-spans": f"/similar?span_id={demo.failing_span_id}",
        "ui-slow-trace": f"/traces/{demo.slow_trace_id}",
    }
    for name, path in pages.items():
        _open(browser, ui.url + path)
        problems = browser.find_elements(By.CSS_SELECTOR, ".problem")
        assert problems == [], f"{path}: {problems[0].text}"
        assert not browser.find_elements(By.CSS_SELECTOR, "td.empty"), f"{path} shows an empty table"
        browser.save_screenshot(str(screenshots / f"{name}.png"))
    assert browser.find_elements(By.CSS_SELECTOR, "nav a[href='/sql']") == []  # not without --allow-sql

