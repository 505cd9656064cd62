"""The example project's admin in a real headless Chromium (Debian's), through Playwright.

The example runs as a real ``runserver`` with the scheduler in its web worker, on a fresh
SQLite file, so "Run now" really fires. These tests run in one suite of ``scripts/test`` (it sets
TABLECRON_BROWSER_TESTS); there, a missing Chromium fails them. With
TABLECRON_SCREENSHOTS=docs/img they also save the README's screenshots.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT
from tests.support.processes import free_port

pytestmark = pytest.mark.skipif(
    not os.environ.get("TABLECRON_BROWSER_TESTS"),
    reason="browser tests run where TABLECRON_BROWSER_TESTS is set (scripts/test, SQLite suite)",
)

if os.environ.get("TABLECRON_BROWSER_TESTS"):  # only then is Playwright needed
    from playwright.sync_api import Browser, Locator, Page, Response, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium in a container: no sandbox, no GPU, and nothing that calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = os.environ.get("TABLECRON_SCREENSHOTS", "")


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT / "example",
        env=env,
        check=True,
        capture_output=True,
    )


def wait_until_serving(url: str, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"runserver exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The example project, migrated, seeded and served on a free port."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "EXAMPLE_DATABASE": str(tmp_path_factory.mktemp("example") / "db.sqlite3"),
        "DJANGO_SUPERUSER_PASSWORD": "admin",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the example's manage.py picks its own
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo", "--base-url", base)
    manage(env, "createsuperuser", "--noinput", "--username=admin", "--email=admin@example.com")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT / "example",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until_serving(f"{base}/health/", server)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def admin(site: str, browser: Browser) -> Iterator[Page]:
    """A page logged in to the example's admin as admin/admin, navigation sidebar closed."""
    context = browser.new_context(
        base_url=site, viewport={"width": 1440, "height": 900}, locale="en-US"
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto("/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "admin")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()
    page.evaluate("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
    yield page
    context.close()


def screenshot(page: Page, name: str, *, full_page: bool = False) -> None:
    if SCREENSHOTS:
        folder = ROOT / SCREENSHOTS
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / name), full_page=full_page)


def breadcrumb_bar_background(page: Page) -> str:
    bar = page.locator("nav[aria-label=Breadcrumbs] .breadcrumbs")
    return str(bar.evaluate("bar => getComputedStyle(bar).backgroundColor"))


def row(page: Page, name: str) -> Locator:
    return page.locator(
        "#result_list tbody tr", has=page.get_by_role("link", name=name, exact=True)
    )


def choose_action(page: Page, action: str, *names: str) -> None:
    page.goto("/admin/tablecron/job/")
    for name in names:
        row(page, name).locator("input.action-select").check()
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")


def add_job(page: Page, name: str, task: str, kwargs: str, cron: str = "") -> None:
    page.goto("/admin/tablecron/job/add/")
    page.fill("#id_name", name)
    page.select_option("#id_task", task)
    page.fill("#id_kwargs", kwargs)
    if cron:
        page.fill("#id_cron", cron)
    else:
        page.check("input[name=schedule_kind][value=manual]")
    page.click("input[name=_save]")
    expect(page.locator("ul.messagelist li.success")).to_contain_text(name)


def test_create_a_cron_job_with_its_upcoming_fire_times_and_a_field_error(admin: Page) -> None:
    page = admin
    page.goto("/admin/tablecron/job/add/")
    page.fill("#id_name", "weekly-report")
    page.select_option("#id_task", "demo.tablecron_jobs.write_report")
    # The chosen task's signature and docstring appear under it.
    expect(page.locator(".tablecron-signature")).to_have_text(
        "demo.tablecron_jobs.write_report(title: str = 'Daily report') -> str"
    )
    page.fill("#id_kwargs", '{"title": "Weekly report"}')
    # Only the chosen kind's fields show.
    expect(page.locator(".form-row.field-interval")).to_be_hidden()
    page.fill("#id_timezone", "Asia/Shanghai")
    page.fill("#id_cron", "0 9 * * 1")

    upcoming = page.locator(".tablecron-upcoming")
    expect(upcoming.locator(".tablecron-words")).to_have_text(
        "At 09:00, only on Monday (Asia/Shanghai)"
    )
    expect(upcoming.locator("ol.tablecron-upcoming-list li")).to_have_count(5)
    expect(upcoming).to_contain_text("09:00 Asia/Shanghai")
    screenshot(page, "job-form.png", full_page=True)

    page.fill("#id_cron", "0 25 * * *")  # hour 25: the form says so as you type
    expect(page.locator(".form-row.field-cron ul.tablecron-live-errors")).to_contain_text(
        "is not a valid cron expression"
    )
    page.click("input[name=_save]")
    server_error = page.locator(".form-row.field-cron ul.errorlist")
    expect(server_error).to_contain_text("“0 25 * * *” is not a valid cron expression")

    page.fill("#id_cron", "0 9 * * 1")
    page.click("input[name=_save]")
    expect(row(page, "weekly-report")).to_contain_text("At 09:00, only on Monday (Asia/Shanghai)")


def test_create_a_job_that_runs_after_another(admin: Page) -> None:
    page = admin
    add_job(page, "nightly-load", "demo.tablecron_jobs.write_report", "{}", cron="0 2 * * *")
    page.goto("/admin/tablecron/job/add/")
    page.fill("#id_name", "after-load")
    page.select_option("#id_task", "demo.tablecron_jobs.write_report")

    # The preview follows the kind of schedule first, then the autocomplete's pick.
    def kind_after(response: Response) -> bool:
        form = response.request.post_data_buffer.decode()
        return "/upcoming/" in response.url and 'name="schedule_kind"\r\n\r\nafter\r\n' in form

    with page.expect_response(kind_after):
        page.check("input[name=schedule_kind][value=after]")
    expect(page.locator(".form-row.field-cron")).to_be_hidden()
    expect(page.locator(".form-row.field-after")).to_be_visible()
    # The autocomplete: type part of the name, pick the job.
    page.click(".form-row.field-after .select2-selection")
    page.fill(".select2-search__field", "nightly-lo")
    page.click(".select2-results__option >> text=nightly-load")
    upcoming = page.locator(".tablecron-upcoming")
    expect(upcoming.locator(".tablecron-words")).to_have_text("After “nightly-load” succeeds")
    expect(upcoming).to_contain_text("It runs each time the job it runs after succeeds.")
    page.click("input[name=_save]")
    expect(row(page, "after-load")).to_contain_text("After “nightly-load” succeeds")
    # The upstream's page links the job that runs after it.
    page.get_by_role("link", name="nightly-load", exact=True).click()
    expect(page.locator(".field-chain")).to_contain_text("after-load")


def test_run_now_shows_the_run_with_its_status_and_traceback(admin: Page) -> None:
    page = admin
    add_job(page, "broken-cleanup", "demo.tablecron_jobs.clean_old_runs", '{"days": -1}')
    for _ in range(3):
        choose_action(page, "run_now", "broken-cleanup", "manual-cleanup")
        expect(page.locator("ul.messagelist li.success")).to_have_text("2 jobs will run shortly.")

    page.get_by_role("link", name="broken-cleanup", exact=True).click()
    runs = page.locator("#runs-group tbody tr.has_original")
    for _ in range(60):  # the scheduler in the web worker claims a manual run within a second
        if runs.count() == 3 and "failed" in runs.first.inner_text():
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(runs).to_have_count(3)
    expect(runs.locator(".tablecron-badge")).to_have_text(["failed"] * 3)
    expect(runs.first).to_contain_text("ValueError: days must be zero or more, not -1")

    runs.first.locator("td.field-run_link a").click()
    traceback = page.locator("pre.tablecron-traceback")
    expect(traceback).to_contain_text("Traceback (most recent call last)")
    expect(traceback).to_contain_text("ValueError: days must be zero or more, not -1")
    screenshot(page, "run-traceback.png", full_page=True)

    page.goto("/admin/tablecron/job/")
    expect(row(page, "manual-cleanup").locator(".tablecron-badge")).to_have_text("succeeded")
    expect(row(page, "broken-cleanup").locator("a.tablecron-mark.tablecron-bad")).to_have_count(3)
    expect(page.locator(".tablecron-no-scheduler")).to_have_count(0)  # the scheduler lives
    screenshot(page, "job-list.png")


def test_pause_a_job(admin: Page) -> None:
    page = admin
    choose_action(page, "pause", "hourly-report")
    expect(page.locator("ul.messagelist li.success")).to_have_text("1 job paused.")
    paused = row(page, "hourly-report")
    expect(paused.locator("td.field-enabled img")).to_have_attribute("alt", "False")
    expect(paused.locator("td.field-next_run_column")).to_have_text("paused")


def test_bulk_delete_two_jobs(admin: Page) -> None:
    page = admin
    add_job(page, "doomed-one", "demo.tablecron_jobs.write_report", "{}", cron="@daily")
    add_job(page, "doomed-two", "demo.tablecron_jobs.write_report", "{}", cron="@weekly")
    choose_action(page, "delete_selected", "doomed-one", "doomed-two")
    expect(page.locator("h1")).to_have_text(re.compile("Delete multiple objects|Are you sure"))
    page.click("input[type=submit]")
    expect(page.locator("ul.messagelist li.success")).to_contain_text("Successfully deleted 2")
    expect(page.get_by_role("link", name="doomed-one", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="doomed-two", exact=True)).to_have_count(0)
    # A job the example seeds (weekly-report exists only after another test made it).
    expect(page.get_by_role("link", name="weekly-cleanup", exact=True)).to_have_count(1)


def test_the_dashboard_draws_the_day_and_links_a_failure_to_its_traceback(admin: Page) -> None:
    page = admin
    add_job(page, "broken-nightly", "demo.tablecron_jobs.clean_old_runs", '{"days": -2}')
    choose_action(page, "run_now", "broken-nightly")
    page.goto("/admin/tablecron/")
    django_bar = breadcrumb_bar_background(page)  # Django's own page
    page.locator(".tablecron-app-tools").get_by_role("link", name="Dashboard").click()
    expect(page.locator("h1")).to_have_text("Dashboard")
    # The breadcrumbs are in the admin's bar, drawn as on Django's own pages.
    expect(page.locator("nav .breadcrumbs")).to_contain_text("Dashboard")
    assert breadcrumb_bar_background(page) == django_bar != "rgba(0, 0, 0, 0)"
    failures = page.locator("#tablecron-failures tbody tr", has_text="broken-nightly")
    for _ in range(60):  # the scheduler in the web worker runs it within a second or two
        if failures.count():
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(failures.first).to_contain_text("ValueError: days must be zero or more, not -2")
    # The example's jobs fire every 10 and 30 seconds, hourly and weekly: bars on the timeline.
    timeline = page.locator("#tablecron-timeline svg.tablecron-chart")
    expect(timeline).to_be_visible()
    assert timeline.locator("rect").count() >= 40
    expect(page.locator("#tablecron-timeline table")).to_contain_text("Every 10 seconds")
    expect(page.locator("#tablecron-instances")).to_contain_text("scheduler")
    expect(page.locator("#tablecron-worst-jobs")).to_contain_text("broken-nightly")
    screenshot(page, "dashboard.png", full_page=True)

    failures.first.get_by_role("link").click()
    expect(page.locator("pre.tablecron-traceback")).to_contain_text(
        "ValueError: days must be zero or more, not -2"
    )


def test_the_audit_trail_shows_who_changed_what(admin: Page) -> None:
    page = admin
    add_job(page, "audited-report", "demo.tablecron_jobs.write_report", "{}", cron="@daily")
    page.locator("#result_list").get_by_role("link", name="audited-report", exact=True).click()
    page.fill("#id_description", "Sent to the board")
    page.fill("#id_cron", "30 6 * * *")
    page.click("input[name=_continue]")
    choose_action(page, "pause", "audited-report")
    page.locator("#result_list").get_by_role("link", name="audited-report", exact=True).click()
    page.get_by_role("link", name="History").click()
    expect(page.locator("nav .breadcrumbs")).to_contain_text("History")
    assert breadcrumb_bar_background(page) != "rgba(0, 0, 0, 0)"  # in the admin's bar
    rows = page.locator("#change-history tbody tr")
    expect(rows).to_have_count(3)  # newest first: paused, changed, added
    expect(rows.nth(0)).to_contain_text("paused")
    expect(rows.nth(1).locator("dl.tablecron-changes")).to_contain_text("@daily → 30 6 * * *")
    expect(rows.nth(1)).to_contain_text("admin")
    screenshot(page, "audit-trail.png", full_page=True)

    page.goto("/admin/tablecron/job/audit/?field=cron")
    expect(page.locator("#change-history tbody tr", has_text="audited-report")).to_have_count(2)


def test_follow_a_run_s_output_live_and_cancel_it(admin: Page) -> None:
    page = admin
    add_job(page, "live-count", "demo.tablecron_jobs.count", '{"up_to": 5}')
    page.locator("#result_list").get_by_role("link", name="live-count", exact=True).click()
    page.get_by_role("link", name="Run now with…").click()
    expect(page.locator(".tablecron-signature")).to_have_text(
        "demo.tablecron_jobs.count(up_to: int = 300, every: float = 0.2) -> int"
    )
    expect(page.locator("#id_kwargs")).to_have_value('{"up_to": 5}')
    page.fill("#id_kwargs", '{"up_to": "many"}')  # not an int: a field error, no run
    page.click("input[name=_run]")
    expect(page.locator(".form-row.field-kwargs ul.errorlist")).to_contain_text("up_to")
    page.fill("#id_kwargs", '{"up_to": 600, "every": 0.2}')
    page.click("input[name=_run]")

    # The run's page, before or soon after the scheduler in the web worker claims it.
    expect(page.locator("ul.messagelist li.success")).to_contain_text("It will run shortly")
    page.evaluate("window.tablecronNotReloaded = true")
    output = page.locator("pre.tablecron-output-text")
    expect(output).to_contain_text("3 of 600", timeout=30_000)
    expect(output).to_contain_text("Counting to 600")  # a logging record, with its level
    lines = output.inner_text().count("\n")
    expect(output).to_contain_text("13 of 600")  # more lines, about five a second
    assert output.inner_text().count("\n") > lines
    assert page.evaluate("window.tablecronNotReloaded === true")  # followed, not reloaded

    page.get_by_role("button", name="Cancel run").click()
    expect(page.locator("ul.messagelist li")).to_contain_text(
        re.compile("asked to stop|is cancelled")
    )
    status = page.locator(".field-status_column .tablecron-badge")
    expect(status).to_have_text("cancelled")
    expect(output).to_contain_text("Asked to stop at")
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    story = page.locator("ol.tablecron-story")  # the whole story, still without a reload
    expect(story.locator(".tablecron-badge")).to_have_text("cancelled")
    expect(story).to_contain_text("Asked to stop")
    expect(story).to_contain_text("by admin")
    screenshot(page, "run-output.png", full_page=True)

    page.locator(".field-job_column a").click()
    expect(page.locator(".field-last_output_column pre")).to_contain_text("Asked to stop at")
    expect(page.locator(".field-durations_column")).to_contain_text("p95")
