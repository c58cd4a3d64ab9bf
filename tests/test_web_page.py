"""The preview page in a real headless Chromium (Debian's chromium and chromedriver), against the real server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.serverproc import Server

GOLDEN = Path(__file__).parent / "golden"
SCREENSHOTS = Path(__file__).parent.parent / "build" / "screenshots"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server(tmp_path_factory.mktemp("web")) as running:
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


def idle(browser: webdriver.Chrome) -> None:
    WebDriverWait(browser, 30).until(lambda b: b.find_element(By.ID, "preview").is_enabled())


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
    idle(browser)
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
        browser.execute_script("arguments[0].scrollIntoView()", result)
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        assert browser.save_screenshot(str(SCREENSHOTS / f"page-{width}-{scheme}-result.png"))
    finally:
        _dark(browser, False)
        browser.set_window_size(1400, 2000)
