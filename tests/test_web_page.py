"""The preview page in a real headless Chromium (Debian's chromium and chromedriver), against the real server."""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.serverproc import Server
from webhook.core.settings import SPECS

GOLDEN = Path(__file__).parent / "golden"
BUILD = Path(__file__).parent.parent / "build"
SCREENSHOTS = BUILD / "screenshots"
# Installed by `make test` (npm install --prefix build/axe axe-core@4), never fetched while the tests run.
AXE = BUILD / "axe" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Previews run at a lower priority than admission: on a busy machine a long one may take many times
    # its idle duration, and must still be answered here.
    with Server(tmp_path_factory.mktemp("web"), "--preview-timeout", "120") as running:
        yield running


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "Debian's chromium and chromium-driver are needed (.ci/run installs them)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,2000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    options.accept_insecure_certs = True  # the test server's certificate comes from a throwaway CA
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    yield chrome
    chrome.quit()


def wait(browser: webdriver.Chrome, css: str) -> None:
    WebDriverWait(browser, 15).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))


def text_of(browser: webdriver.Chrome, css: str) -> str:
    """The element's text once the page has stopped replacing it (a render swaps whole elements)."""
    waiting = WebDriverWait(browser, 15, ignored_exceptions=[StaleElementReferenceException])
    text: str = waiting.until(lambda b: b.find_element(By.CSS_SELECTOR, css).text)
    return text


def click_preview(browser: webdriver.Chrome) -> None:
    """Preview, once the one running (an example runs on click) has finished."""
    button = browser.find_element(By.ID, "preview")
    WebDriverWait(browser, 30).until(lambda _: button.is_enabled())
    button.click()


def idle(browser: webdriver.Chrome, seconds: float = 30) -> None:
    WebDriverWait(browser, seconds).until(lambda b: b.find_element(By.ID, "preview").is_enabled())


def paste_and_preview(browser: webdriver.Chrome, server: Server, text: str) -> None:
    browser.get(server.url + "/")
    documents = browser.find_element(By.ID, "documents")
    browser.execute_script("arguments[0].value = arguments[1]", documents, text)
    click_preview(browser)
    wait(browser, "[data-testid=result]")


def test_a_pasted_deployment_shows_the_injected_lines_and_why(browser: webdriver.Chrome, server: Server) -> None:
    paste_and_preview(browser, server, (GOLDEN / "sidekiq-deployment.yaml").read_text())
    [result] = browser.find_elements(By.CSS_SELECTOR, "[data-testid=result]")
    assert "Deployment/billing-sidekiq" in result.find_element(By.TAG_NAME, "h2").text
    assert result.find_element(By.CSS_SELECTOR, ".badge").text == "allowed"
    added = [line.text for line in result.find_elements(By.CSS_SELECTOR, ".diff .add")]
    assert "readinessProbe:" in [line.strip() for line in added]
    assert any("WORKERGUARD_HEARTBEAT_FILE" in line for line in added)
    sources = {
        row.find_elements(By.TAG_NAME, "td")[0].text: row.find_elements(By.TAG_NAME, "td")[2].text
        for row in result.find_elements(By.CSS_SELECTOR, "[data-testid=explanations] tr")[1:]
    }
    assert sources["shutdown-timeout"] == "command"  # sidekiq -t 600 in its command; built-in rules, no rules file
    assert sources["container"] == "default (first container)"
    assert "shell_wrapped_command" in result.find_element(By.CSS_SELECTOR, "[data-testid=warnings]").text
    assert '"op": "add"' in result.find_element(By.CSS_SELECTOR, "[data-testid=patch]").text
    assert browser.save_screenshot(str(SCREENSHOTS / "preview-deployment.png"))


def test_a_rules_file_and_only_changes_view(browser: webdriver.Chrome, server: Server) -> None:
    browser.get(server.url + "/")
    browser.execute_script(
        "arguments[0].value = arguments[1]", browser.find_element(By.ID, "rules"), (GOLDEN / "rules.yaml").read_text()
    )
    browser.execute_script(
        "arguments[0].value = arguments[1]",
        browser.find_element(By.ID, "documents"),
        (GOLDEN / "sidekiq-deployment.yaml").read_text(),
    )
    click_preview(browser)
    wait(browser, "[data-testid=explanations]")
    table = browser.find_element(By.CSS_SELECTOR, "[data-testid=explanations]").text
    assert "rule:billing-long-jobs" in table and "profile:long-sidekiq" in table
    full = len(browser.find_elements(By.CSS_SELECTOR, ".diff .same"))
    browser.find_element(By.ID, "only-changes").click()
    assert len(browser.find_elements(By.CSS_SELECTOR, ".diff .same")) < full
    assert browser.find_elements(By.CSS_SELECTOR, ".diff .gap")


def test_the_bad_annotation_example_points_at_the_offending_line(browser: webdriver.Chrome, server: Server) -> None:
    browser.get(server.url + "/")
    browser.find_element(By.CSS_SELECTOR, "[data-example=invalid]").click()
    click_preview(browser)
    wait(browser, "[data-testid=errors]")
    assert text_of(browser, ".badge") == "denied"
    errors = text_of(browser, "[data-testid=errors]")
    assert "metadata.annotations[workerguard.io/readiness-max-age]: 'abc' is not a duration like 60s or 2m" in errors
    [offending] = browser.find_elements(By.CSS_SELECTOR, ".diff .offending")
    assert offending.text.strip() == "workerguard.io/readiness-max-age: abc"
    assert browser.save_screenshot(str(SCREENSHOTS / "preview-invalid.png"))


def test_a_broken_rules_file_is_reported_on_the_page(browser: webdriver.Chrome, server: Server) -> None:
    browser.get(server.url + "/")
    browser.find_element(By.CSS_SELECTOR, "[data-example=celery]").click()
    browser.execute_script("arguments[0].value = 'rules: [{name: Bad}]'", browser.find_element(By.ID, "rules"))
    click_preview(browser)
    WebDriverWait(browser, 15).until(lambda b: b.find_element(By.ID, "error").is_displayed())
    assert "the rules file is invalid" in browser.find_element(By.ID, "error").text
    assert "rules[0]" in browser.find_element(By.ID, "error").text


def test_the_page_needs_nothing_from_the_internet(browser: webdriver.Chrome, server: Server) -> None:
    browser.get(server.url + "/")
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(url.startswith(server.url) for url in resources), resources


def test_an_example_runs_on_click_and_the_sidekiq_one_is_written_as_the_readme_says(
    browser: webdriver.Chrome, server: Server
) -> None:
    browser.get(server.url + "/")
    browser.find_element(By.CSS_SELECTOR, "[data-example=sidekiq]").click()
    wait(browser, "[data-testid=result]")
    idle(browser)
    [result] = browser.find_elements(By.CSS_SELECTOR, "[data-testid=result]")
    assert "Deployment/billing-sidekiq" in result.text
    assert not result.find_elements(By.CSS_SELECTOR, "[data-testid=warnings]")  # no shell-wrapped command


def test_documents_that_hold_no_pod_take_one_line(browser: webdriver.Chrome, server: Server) -> None:
    browser.get(server.url + "/")
    text = (GOLDEN / "celery-pod.yaml").read_text() + "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n"
    paste_and_preview(browser, server, text)
    wait(browser, "[data-testid=other]")
    [other] = browser.find_elements(By.CSS_SELECTOR, "[data-testid=other]")
    assert other.text == "ConfigMap/settings holds no pod: left as it is"
    assert len(browser.find_elements(By.CSS_SELECTOR, "[data-testid=result]")) == 1


def test_a_long_preview_shows_progress_and_cannot_be_sent_twice(browser: webdriver.Chrome, server: Server) -> None:
    from tests.loadgen import big_preview_yaml

    browser.get(server.url + "/")
    documents = browser.find_element(By.ID, "documents")
    browser.execute_script("arguments[0].value = arguments[1]", documents, big_preview_yaml(1_500_000).decode())
    browser.find_element(By.ID, "preview").click()
    button, progress = browser.find_element(By.ID, "preview"), browser.find_element(By.ID, "progress")
    assert not button.is_enabled() and button.text == "Previewing…"
    assert progress.is_displayed() and progress.text.startswith("working…")
    idle(browser, 150)
    assert not progress.is_displayed() and button.text == "Preview"
    assert browser.find_elements(By.CSS_SELECTOR, "[data-testid=result]")


def _dark(browser: webdriver.Chrome, on: bool) -> None:
    features = [{"name": "prefers-color-scheme", "value": "dark" if on else "light"}]
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "", "features": features})


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_page_fits_1280_and_390_in_light_and_dark(browser: webdriver.Chrome, server: Server, width: int, scheme: str) -> None:
    browser.set_window_size(width, 900)
    _dark(browser, scheme == "dark")
    try:
        paste_and_preview(browser, server, (GOLDEN / "sidekiq-deployment.yaml").read_text())
        idle(browser)
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        background = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert background == ("rgb(18, 22, 28)" if scheme == "dark" else "rgb(246, 247, 249)")
        inputs = browser.find_element(By.CSS_SELECTOR, ".inputs")
        result = browser.find_element(By.CSS_SELECTOR, "[data-testid=result]")
        if width == 1280:  # side by side, and the result starts above the fold
            assert result.location["x"] >= inputs.location["x"] + inputs.size["width"]
            assert result.location["y"] < 900
        else:
            assert result.location["y"] > inputs.location["y"] + inputs.size["height"] - 1
        assert browser.save_screenshot(str(SCREENSHOTS / f"page-{width}-{scheme}.png"))
        table = browser.find_element(By.CSS_SELECTOR, "[data-testid=explanations]")
        browser.execute_script("arguments[0].scrollIntoView()", table)
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        assert browser.save_screenshot(str(SCREENSHOTS / f"page-{width}-{scheme}-result.png"))
    finally:
        _dark(browser, False)
        browser.set_window_size(1400, 2000)


# What the issue "The first hour without stumbles" asked for, each measured in the browser.

DOCUMENT_WITH_BAD_LINE = """apiVersion: v1
kind: Pod
metadata:
  name: broken
   labels: {workerguard.io/inject: "true"}
spec:
  containers: [{name: worker, image: registry.example/worker:1}]
"""


def set_field(browser: webdriver.Chrome, field_id: str, text: str) -> None:
    """As a paste does: the value, then an input event (the line numbers follow it)."""
    browser.execute_script(
        "const field = document.getElementById(arguments[0]); field.value = arguments[1];field.dispatchEvent(new Event('input'))",
        field_id,
        text,
    )


def line_span(text: str, line: int) -> tuple[int, int]:
    """Offsets of the start and end of a line (1-based) in the textarea's value, as selectionStart/End count them."""
    start = sum(len(previous) + 1 for previous in text.split("\n")[: line - 1])
    return start, start + len(text.split("\n")[line - 1])


def selection(browser: webdriver.Chrome) -> tuple[str, int, int]:
    found: list[Any] = browser.execute_script("const a = document.activeElement; return [a.id, a.selectionStart, a.selectionEnd]")
    return found[0], found[1], found[2]


def test_a_skipped_object_shows_as_skipped_with_its_reason_not_as_a_warning(browser: webdriver.Chrome, server: Server) -> None:
    text = (GOLDEN / "sidekiq-deployment.yaml").read_text() + "---\n" + (GOLDEN / "not-opted-in.yaml").read_text()
    paste_and_preview(browser, server, text)
    WebDriverWait(browser, 15).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "[data-testid=result]")) == 2)
    worker, web = browser.find_elements(By.CSS_SELECTOR, "[data-testid=result]")
    assert worker.find_element(By.CSS_SELECTOR, ".badge").text == "allowed"
    assert "shell_wrapped_command" in worker.find_element(By.CSS_SELECTOR, "[data-testid=warnings]").text
    assert "Pod/web-0" in web.find_element(By.TAG_NAME, "h2").text
    assert web.find_element(By.CSS_SELECTOR, ".badge").text == "skipped"
    reason = web.find_element(By.CSS_SELECTOR, "[data-testid=skipped]").text
    assert "not_opted_in" in reason and 'not labelled workerguard.io/inject: "true"' in reason
    assert not web.find_elements(By.CSS_SELECTOR, "[data-testid=warnings]")
    assert not web.find_elements(By.CSS_SELECTOR, "[data-testid=patch]")  # nothing injected: no empty patch, no table
    assert not web.find_elements(By.CSS_SELECTOR, "[data-testid=explanations]")
    browser.execute_script("arguments[0].scrollIntoView()", web)
    assert browser.save_screenshot(str(SCREENSHOTS / "preview-skipped.png"))


@pytest.mark.parametrize(
    ("field", "modifier"),
    [("documents", Keys.CONTROL), ("documents", Keys.META), ("rules", Keys.CONTROL), ("namespace", Keys.META)],
)
def test_ctrl_or_cmd_enter_in_a_field_runs_the_preview(
    browser: webdriver.Chrome, server: Server, field: str, modifier: str
) -> None:
    browser.get(server.url + "/")
    text = (GOLDEN / "celery-pod.yaml").read_text()
    set_field(browser, "documents", text)
    if field == "rules":
        browser.find_element(By.CSS_SELECTOR, "#rules-box summary").click()
        set_field(browser, "rules", "profiles: {}\nrules: []")
    target = browser.find_element(By.ID, field)
    target.click()
    before = target.get_attribute("value")
    ActionChains(browser).key_down(modifier).send_keys(Keys.ENTER).key_up(modifier).perform()
    wait(browser, "[data-testid=result]")
    idle(browser)
    assert "Pod/reports-celery-7d9f8c6b5-" in text_of(browser, "[data-testid=result] h2")
    assert target.get_attribute("value") == before  # the shortcut types no newline
    assert browser.find_element(By.ID, "documents").get_attribute("value") == text


def test_the_editor_numbers_its_lines_and_keeps_them_beside_the_text(browser: webdriver.Chrome, server: Server) -> None:
    browser.get(server.url + "/")
    set_field(browser, "documents", "\n".join(f"key{number}: {number}" for number in range(1, 61)))
    gutter = browser.find_element(By.CSS_SELECTOR, ".editor:has(#documents) .gutter")
    assert gutter.get_attribute("textContent").split("\n") == [str(number) for number in range(1, 61)]
    documents = browser.find_element(By.ID, "documents")
    documents.send_keys(Keys.CONTROL, Keys.END)
    documents.send_keys("\nkey61: 61\nkey62: 62")
    assert gutter.get_attribute("textContent").split("\n")[-1] == "62"
    same = browser.execute_script(
        "const [a, b] = [...arguments].map(e => getComputedStyle(e));"
        "return ['lineHeight', 'fontSize', 'fontFamily', 'paddingTop'].every(p => a[p] === b[p])",
        gutter,
        documents,
    )
    assert same, "the gutter and the text must share one line grid"
    browser.execute_script("arguments[0].scrollTop = arguments[0].scrollHeight", documents)
    scrolled = browser.execute_script("return arguments[0].scrollTop", documents)
    assert scrolled > 0
    WebDriverWait(browser, 5).until(lambda b: b.execute_script("return arguments[0].scrollTop", gutter) == scrolled)
    # The last number sits on the last line: same distance from the bottom of the box.
    last_line_bottom = browser.execute_script(
        "const t = arguments[0], r = t.getBoundingClientRect(), s = getComputedStyle(t);"
        "return r.top + t.clientTop + parseFloat(s.paddingTop) + 62 * parseFloat(s.lineHeight) - t.scrollTop",
        documents,
    )
    last_number_bottom = browser.execute_script(
        "const range = document.createRange(); const node = arguments[0].lastChild;"
        "range.setStart(node, node.length - 2); range.setEnd(node, node.length); return range.getBoundingClientRect().bottom",
        gutter,
    )
    assert abs(last_line_bottom - last_number_bottom) <= 3, (last_line_bottom, last_number_bottom)


def test_a_yaml_error_is_marked_at_its_line_and_a_click_puts_the_cursor_there(browser: webdriver.Chrome, server: Server) -> None:
    browser.get(server.url + "/")
    set_field(browser, "documents", DOCUMENT_WITH_BAD_LINE)
    click_preview(browser)
    WebDriverWait(browser, 15).until(lambda b: b.find_element(By.ID, "error").is_displayed())
    error = browser.find_element(By.ID, "error")
    assert "not valid YAML: line 5, column 10" in error.text
    [mark] = browser.find_elements(By.CSS_SELECTOR, ".editor:has(#documents) .gutter .mark")
    assert mark.text == "5"
    [band] = browser.find_elements(By.CSS_SELECTOR, ".editor:has(#documents) [data-testid=band]")
    assert abs(band.location["y"] - mark.location["y"]) <= 3  # the band lies across line 5
    assert browser.save_screenshot(str(SCREENSHOTS / "preview-yaml-error.png"))
    error.find_element(By.CSS_SELECTOR, "button.goto").click()
    assert selection(browser) == ("documents", *line_span(DOCUMENT_WITH_BAD_LINE, 5))
    browser.find_element(By.ID, "documents").send_keys("x")  # an edit moves lines: the marks go
    assert not browser.find_elements(By.CSS_SELECTOR, ".gutter .mark, [data-testid=band]")


def test_a_rules_file_yaml_error_opens_the_rules_at_its_line(browser: webdriver.Chrome, server: Server) -> None:
    rules = "profiles: {}\nrules:\n  - name: a\n    match: {namespaces: [billing}\n"
    browser.get(server.url + "/")
    set_field(browser, "documents", (GOLDEN / "celery-pod.yaml").read_text())
    set_field(browser, "rules", rules)
    click_preview(browser)
    WebDriverWait(browser, 15).until(lambda b: b.find_element(By.ID, "error").is_displayed())
    error = browser.find_element(By.ID, "error")
    assert "the rules file is invalid" in error.text and "(file): not valid YAML: line 4" in error.text
    assert not browser.find_element(By.ID, "rules").is_displayed()  # the rules box is closed until asked
    error.find_element(By.CSS_SELECTOR, "button.goto").click()
    assert browser.find_element(By.ID, "rules-box").get_attribute("open") is not None
    assert selection(browser) == ("rules", *line_span(rules, 4))
    assert browser.find_element(By.CSS_SELECTOR, ".editor:has(#rules) .gutter .mark").text == "4"


def test_an_invalid_annotation_error_leads_to_its_line_in_the_input(browser: webdriver.Chrome, server: Server) -> None:
    browser.get(server.url + "/")
    browser.find_element(By.CSS_SELECTOR, "[data-example=invalid]").click()
    wait(browser, "[data-testid=errors]")
    idle(browser)
    text = browser.find_element(By.ID, "documents").get_attribute("value")
    line = text.split("\n").index("    workerguard.io/readiness-max-age: abc") + 1
    assert browser.find_element(By.CSS_SELECTOR, ".editor:has(#documents) .gutter .mark").text == str(line)
    browser.find_element(By.CSS_SELECTOR, "[data-testid=errors] button.goto").click()
    assert selection(browser) == ("documents", *line_span(text, line))


@pytest.mark.parametrize("width", [390, 1280])
def test_on_a_narrow_screen_the_page_scrolls_to_the_result(browser: webdriver.Chrome, server: Server, width: int) -> None:
    browser.set_window_size(width, 844)
    try:
        paste_and_preview(browser, server, (GOLDEN / "celery-pod.yaml").read_text())
        idle(browser)
        top = "return document.querySelector('.output').getBoundingClientRect().top"
        if width == 390:  # the result is below the inputs: it comes to the top of the screen
            WebDriverWait(browser, 10).until(lambda b: 0 <= b.execute_script(top) <= 20)
        else:  # side by side the result is already in view: no scrolling
            assert browser.execute_script("return window.scrollY") == 0
    finally:
        browser.set_window_size(1400, 2000)


def _grant_clipboard(browser: webdriver.Chrome, server: Server) -> None:
    permissions = ["clipboardReadWrite", "clipboardSanitizedWrite"]
    browser.execute_cdp_cmd("Browser.grantPermissions", {"origin": server.url, "permissions": permissions})


def _requests(browser: webdriver.Chrome) -> list[str]:
    found: list[str] = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    return found


def test_a_copied_link_carries_the_input_and_reopens_the_preview(browser: webdriver.Chrome, server: Server) -> None:
    # Without its namespace: the namespace field puts it in billing, where the rules file's rule applies.
    documents = (GOLDEN / "sidekiq-deployment.yaml").read_text().replace("  namespace: billing\n", "")
    documents = "# Grüße aus der Buchhaltung ✓\n" + documents
    rules = (GOLDEN / "rules.yaml").read_text()
    browser.get(server.url + "/")
    _grant_clipboard(browser, server)
    set_field(browser, "documents", documents)
    set_field(browser, "rules", rules)
    browser.find_element(By.ID, "namespace").send_keys("billing")
    browser.find_element(By.ID, "copy-link").click()
    status = text_of(browser, "#link-status")
    print(f"copy link: {status}")
    link = browser.current_url
    fragment = link.partition("#")[2]
    assert fragment.startswith("preview=") and link.partition("#")[0] == server.url + "/"
    encoded = fragment.removeprefix("preview=")
    assert re.fullmatch(r"[A-Za-z0-9_-]+", encoded), "base64url, no padding"
    state = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode())
    assert state == {"documents": documents, "rules": rules, "namespace": "billing"}
    if status.startswith("Link copied"):
        copied = browser.execute_async_script("navigator.clipboard.readText().then(arguments[arguments.length - 1])")
    else:  # no clipboard: the link shows, selected, to copy by hand
        copied = browser.find_element(By.ID, "link-text").get_attribute("value")
    assert copied == link
    assert not [url for url in _requests(browser) if "/preview" in url]  # copying sends nothing

    browser.get("about:blank")
    browser.get(link)
    wait(browser, "[data-testid=explanations]")
    idle(browser)
    assert browser.find_element(By.ID, "documents").get_attribute("value") == documents
    assert browser.find_element(By.ID, "rules").get_attribute("value") == rules
    assert browser.find_element(By.ID, "rules-box").get_attribute("open") is not None
    assert browser.find_element(By.ID, "namespace").get_attribute("value") == "billing"
    assert "rule:billing-long-jobs" in browser.find_element(By.CSS_SELECTOR, "[data-testid=explanations]").text
    requests = _requests(browser)
    assert all(url.startswith(server.url + "/") for url in requests), requests
    assert [url for url in requests if not url.startswith(server.url + "/static/")] == [server.url + "/preview"]


def test_a_link_that_cannot_be_read_says_so_and_sends_nothing(browser: webdriver.Chrome, server: Server) -> None:
    browser.get("about:blank")
    browser.get(server.url + "/#preview=bm90IGpzb24")  # "not json"
    WebDriverWait(browser, 15).until(lambda b: b.find_element(By.ID, "error").is_displayed())
    assert "This link holds no preview that can be read" in browser.find_element(By.ID, "error").text
    assert not [url for url in _requests(browser) if "/preview" in url]


def test_the_why_table_reads_as_stacked_rows_at_390(browser: webdriver.Chrome, server: Server) -> None:
    browser.set_window_size(390, 844)
    try:
        browser.get(server.url + "/")
        set_field(browser, "documents", (GOLDEN / "sidekiq-deployment.yaml").read_text())
        set_field(browser, "rules", (GOLDEN / "rules.yaml").read_text())
        click_preview(browser)
        wait(browser, "[data-testid=explanations]")
        idle(browser)
        table = browser.find_element(By.CSS_SELECTOR, "[data-testid=explanations]")
        viewport = browser.execute_script("return document.documentElement.clientWidth")
        box = browser.execute_script("const r = arguments[0].parentElement; return [r.clientWidth, r.scrollWidth]", table)
        assert box[1] <= box[0], "the table fits its box: nothing to scroll sideways"
        assert table.location["x"] >= 0 and table.location["x"] + table.size["width"] <= viewport
        rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
        assert len(rows) == len(SPECS) + 1  # every setting, and the profile
        heights = [row.size["height"] for row in rows]
        assert max(heights) <= 260, heights  # was 474 and 762 px
        for row in rows:
            assert row.location["x"] + row.size["width"] <= viewport
        paths = table.find_elements(By.CSS_SELECTOR, "td.paths code")
        assert paths and min(path.size["width"] for path in paths) >= 0.7 * box[0]  # a path gets the row's width
        assert all(len(path.text.split("\n")) <= 2 for path in paths)  # each path on one line, two at most
        browser.execute_script("arguments[0].scrollIntoView()", table)
        assert browser.save_screenshot(str(SCREENSHOTS / "why-table-390.png"))
    finally:
        browser.set_window_size(1400, 2000)


def _rgb(css: str) -> tuple[float, float, float]:
    red, green, blue = (float(part) for part in re.findall(r"[\d.]+", css)[:3])
    return red, green, blue


def _luminance(css: str) -> float:
    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(value) for value in _rgb(css))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(foreground: str, background: str) -> float:
    light, dark = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_button_text_has_at_least_4_5_contrast(browser: webdriver.Chrome, server: Server, scheme: str) -> None:
    _dark(browser, scheme == "dark")
    try:
        browser.get(server.url + "/")
        for css in ("#preview", "#copy-link", "[data-example]"):
            button = browser.find_element(By.CSS_SELECTOR, css)
            colors: list[str] = browser.execute_script(
                "const s = getComputedStyle(arguments[0]); return [s.color, s.backgroundColor]", button
            )
            assert contrast(*colors) >= 4.5, (css, scheme, colors, contrast(*colors))
    finally:
        _dark(browser, False)


IMPACTS = ("critical", "serious", "moderate", "minor")


def _axe(browser: webdriver.Chrome) -> dict[str, Any]:
    """axe-core's run over the page as it is: violations with their nodes, and how many checks passed or
    need a person to look (incomplete)."""
    assert AXE.exists(), f"{AXE} is missing: `make test` installs it (npm install --prefix build/axe axe-core@4)"
    browser.execute_script(AXE.read_text())
    browser.set_script_timeout(60)
    found: dict[str, Any] = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const brief = (v) => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)});"
        "axe.run(document).then("
        "  r => done({violations: r.violations.map(brief), incomplete: r.incomplete.map(brief), passes: r.passes.length}),"
        "  e => done({violations: [{id: 'axe failed', impact: 'critical', nodes: [String(e)]}], incomplete: [], passes: 0}))"
    )
    return found


@pytest.mark.parametrize("state", ["empty", "result", "error", "dark", "narrow"])
def test_axe_finds_nothing_serious_or_critical(browser: webdriver.Chrome, server: Server, state: str) -> None:
    _dark(browser, state == "dark")
    if state == "narrow":
        browser.set_window_size(390, 844)
    try:
        browser.get(server.url + "/")
        if state in ("result", "dark", "narrow"):
            browser.find_element(By.CSS_SELECTOR, "#rules-box summary").click()  # the rules editor shows too
            set_field(browser, "rules", (GOLDEN / "rules.yaml").read_text())
            set_field(browser, "documents", (GOLDEN / "sidekiq-deployment.yaml").read_text())
            click_preview(browser)
            wait(browser, "[data-testid=explanations]")
        elif state == "error":
            set_field(browser, "documents", DOCUMENT_WITH_BAD_LINE)
            click_preview(browser)
            wait(browser, "#error .goto")
        idle(browser)
        found = _axe(browser)
    finally:
        _dark(browser, False)
        browser.set_window_size(1400, 2000)
    violations = found["violations"]
    counts = {impact: sum(len(v["nodes"]) for v in violations if v["impact"] == impact) for impact in IMPACTS}
    summary = {"violating nodes by impact": counts, "rules passed": found["passes"], "incomplete": len(found["incomplete"])}
    (BUILD / "axe" / f"results-{state}.json").write_text(json.dumps({**summary, **found}, indent=2))
    print(f"axe {state}: {summary}")
    assert not [v for v in violations if v["impact"] in ("serious", "critical")], json.dumps(violations, indent=2)
