"""The dashboard in a real headless Chromium against `nurture serve`: sign in, the journey's
counts on its map and funnel, a contact's timeline, a sent email, a move, no console errors,
and a Content-Security-Policy that holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.ui import served as serving
from tests.ui.served import INJECTED, NOTES, UI_KEY, Served

try:
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.wait import WebDriverWait
except ImportError:  # the fixtures say what is missing
    pass

CSS = "css selector"


def _errors(browser: Any) -> list[str]:
    """Console errors since the last look (reading the log empties it)."""
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def _wait(browser: Any, condition: Any) -> None:
    """Until a page the browser was sent to has loaded, at most ten seconds."""
    WebDriverWait(browser, 10).until(lambda _driver: condition())


def _sign_in(browser: Any, served: Served, path: str) -> None:
    browser.get(served.base + path)
    if "/ui/signin" in browser.current_url:
        browser.find_element(CSS, "#api_key").send_keys(UI_KEY)
        browser.find_element(CSS, "form.stack button[type=submit]").click()
    _wait(browser, lambda: browser.current_url == served.base + path)


def test_sign_in_and_find_the_stage_counts(browser: Any, served: Served, artifacts: Path) -> None:
    browser.get(served.base + "/ui/journeys")
    assert "/ui/signin?next=" in browser.current_url
    _sign_in(browser, served, "/ui/journeys/wedding-story")
    active = {
        group.get_attribute("data-stage"): group.find_element(CSS, ".map-active").text
        for group in browser.find_elements(CSS, "svg.journey-map g.map-stage")
    }
    assert active == {
        "welcome": "0 active",
        "favors": "4 active",
        "thank_you": "0 active",
        "done": "0 active",
    }
    funnel = {
        row.get_attribute("data-key"): row.find_element(CSS, ".chart-value").text
        for row in browser.find_elements(CSS, "#funnel g.chart-row")
    }
    assert funnel == {
        "(entered)": "6",
        "welcome": "6",
        "favors": "4",
        "thank_you": "0",
        "done": "0",
        "(goal)": "1",
    }
    assert browser.find_element(CSS, "#summary [data-figure=converted]").text == "1"
    # The keyboard reaches the skip link first, and it leads to the content.
    body = browser.find_element(CSS, "body")
    body.send_keys("\ue004")  # Tab
    assert browser.switch_to.active_element.text == "Skip to content"
    assert _errors(browser) == []

    browser.get(served.base + "/ui/journeys/bride-wedding-timeline")
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(int(height) + 120, 8000))
    shot = artifacts / "journey-bride-wedding-timeline.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    NOTES.append(f"screenshot of the sample wedding timeline: {shot}")
    browser.set_window_size(1280, 900)
    assert _errors(browser) == []


def test_contact_timeline_email_and_move(browser: Any, served: Served) -> None:
    _sign_in(browser, served, "/ui/contacts")
    browser.find_element(CSS, "#q").send_keys("ava@example.com")
    browser.find_element(CSS, "form[role=search] button").click()
    _wait(browser, lambda: browser.current_url == f"{served.base}/ui/contacts/{served.ids['ava']}")
    assert browser.find_element(CSS, "#contact-name").text == "Ava"
    lines = [e.text for e in browser.find_elements(CSS, "#timeline .summary")]
    assert "wedding-story: (start) -> welcome" in lines
    assert lines.index("email.clicked") < lines.index("wedding-story: welcome -> favors")

    favors = [
        a for a in browser.find_elements(CSS, "#timeline a.summary") if "story/favors" in a.text
    ]
    favors[0].click()
    _wait(browser, lambda: "/messages/" in browser.current_url)
    assert browser.find_element(CSS, "#subject").text == "Favors for your guests"
    assert "Kraft favor boxes" in browser.find_element(CSS, "#text-part").text
    frame = browser.find_element(CSS, "iframe.email")
    assert frame.get_attribute("sandbox") == ""
    browser.switch_to.frame(frame)
    assert "Kraft favor boxes" in browser.find_element(CSS, "body").text
    browser.switch_to.default_content()
    assert _errors(browser) == []

    browser.back()
    _wait(browser, lambda: browser.current_url.endswith(served.ids["ava"]))
    form = browser.find_element(CSS, "form[aria-label='Move in wedding-story']")
    Select(form.find_element(CSS, "select[name=stage]")).select_by_value("thank_you")
    form.find_element(CSS, "input[name=confirm]").click()
    form.find_element(CSS, "button[type=submit]").click()
    _wait(browser, lambda: "notice=moved" in browser.current_url)
    assert browser.find_element(CSS, ".notice").text.startswith("Moved.")
    lines = [e.text for e in browser.find_elements(CSS, "#timeline .summary")]
    assert "wedding-story: favors -> thank_you" in lines, "\n".join(lines)
    assert _errors(browser) == []


def test_injected_markup_is_text_and_the_policy_holds(browser: Any, served: Served) -> None:
    _sign_in(browser, served, f"/ui/contacts/{served.ids['mal']}")
    assert browser.find_element(CSS, "#contact-name").text == INJECTED
    assert browser.execute_script("return window.__pwned === undefined") is True
    assert _errors(browser) == []
    # A script put into the page after it loaded is still refused by the policy.
    refused = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        document.addEventListener("securitypolicyviolation", (e) => done(e.violatedDirective));
        const script = document.createElement("script");
        script.textContent = "window.__inline = true";
        document.body.appendChild(script);
        setTimeout(() => done(window.__inline === true ? "ran" : "no report"), 2000);
        """
    )
    assert refused.startswith("script-src")
    assert browser.execute_script("return window.__inline === undefined") is True
    assert any("Content Security Policy" in line for line in _errors(browser))


def test_a_missing_browser_fails_in_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serving.shutil, "which", lambda _name: None)
    monkeypatch.setattr(serving, "NOTES", [])
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="chromium-driver"):
        serving.chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="apt-get install"):
        serving.chromium()
