"""The Simplified Chinese catalogue: complete, compiled, in step with the source, and used."""

import ast
import gettext
import shutil
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

import tablecron
from tablecron.models import Job, JobRun, RunStatus
from tests.support.factories import job, runs_of_each_kind

PACKAGE = Path(tablecron.__file__).parent
CATALOGUE = PACKAGE / "locale" / "zh_Hans" / "LC_MESSAGES"


@dataclass
class Entry:
    msgid: str = ""
    plural: str | None = None
    msgstrs: list[str] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)


def read_po(path: Path) -> list[Entry]:
    """The entries of a .po file (without its header): enough of the format for these tests."""
    entries: list[Entry] = []
    current: list[str] | None = None
    entry = Entry()
    parts: dict[str, list[str]] = {}

    def finish() -> None:
        if "msgid" in parts:
            entry.msgid = "".join(parts["msgid"])
            entry.plural = "".join(parts["msgid_plural"]) if "msgid_plural" in parts else None
            entry.msgstrs = ["".join(v) for k, v in sorted(parts.items()) if k.startswith("msgstr")]
            entries.append(entry)

    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            finish()
            entry, parts, current = Entry(), {}, None
        elif line.startswith("#,"):
            entry.flags |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            assert current is not None
            current.append(ast.literal_eval(line))
        else:
            keyword, _space, rest = line.partition(" ")
            current = parts.setdefault(keyword, [])
            current.append(ast.literal_eval(rest))
    return [e for e in entries if e.msgid]


def test_every_message_is_translated_and_none_is_fuzzy() -> None:
    entries = read_po(CATALOGUE / "django.po")
    assert len(entries) > 150
    untranslated = [e.msgid for e in entries if not all(e.msgstrs)]
    fuzzy = [e.msgid for e in entries if "fuzzy" in e.flags]
    assert untranslated == []
    assert fuzzy == []


def test_the_compiled_catalogue_matches_the_po_file() -> None:
    with (CATALOGUE / "django.mo").open("rb") as compiled:
        catalogue = gettext.GNUTranslations(compiled)
    for entry in read_po(CATALOGUE / "django.po"):
        if entry.plural is None:
            assert catalogue.gettext(entry.msgid) == entry.msgstrs[0], entry.msgid
        else:
            assert catalogue.ngettext(entry.msgid, entry.plural, 2) == entry.msgstrs[0]


def test_the_catalogue_has_every_string_of_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """makemessages run on a copy of the package finds no message the catalogue lacks,
    and the catalogue keeps none the source no longer has."""
    copy = tmp_path / "tablecron"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.chdir(copy)
    call_command("makemessages", locale=["zh_Hans"], no_obsolete=True, verbosity=0)
    fresh = {(e.msgid, e.plural) for e in read_po(copy / "locale/zh_Hans/LC_MESSAGES/django.po")}
    shipped = {(e.msgid, e.plural) for e in read_po(CATALOGUE / "django.po")}
    assert fresh - shipped == set(), "run makemessages -l zh_Hans and translate the new strings"
    assert shipped - fresh == set(), "run makemessages -l zh_Hans --no-obsolete"


@pytest.mark.django_db
def test_the_job_list_speaks_chinese(admin_client: Client) -> None:
    weekly = job(name="weekly", cron="0 9 * * 1", timezone="Asia/Shanghai")
    weekly.save()
    job(name="pinger", cron="", interval=timedelta(hours=2)).save()
    now = timezone.now()
    JobRun.objects.create(
        job=weekly,
        scheduled_for=now,
        started_at=now,
        finished_at=now + timedelta(seconds=3),
        status=RunStatus.SUCCEEDED,
    )
    Job.objects.filter(pk=weekly.pk).update(last_run_at=now, last_status=RunStatus.SUCCEEDED)
    with translation.override("zh-hans"):
        page = admin_client.get(reverse("admin:tablecron_job_changelist")).content.decode()
    assert "在 09:00，仅在 星期一（Asia/Shanghai）" in page  # the cron description
    assert "每 2 小时" in page
    assert "下次运行" in page
    assert "最近运行" in page
    assert ">成功<" in page  # the last run's status
    assert "3.00 秒" in page
    assert "当前没有正在运行的调度器" in page
    assert "立即运行所选定时任务" in page  # an action


@pytest.mark.django_db
def test_the_run_list_speaks_chinese(admin_client: Client) -> None:
    runs_of_each_kind(timezone.now())
    with translation.override("zh-hans"):
        page = admin_client.get(reverse("admin:tablecron_jobrun_changelist")).content.decode()
        workers = admin_client.get(reverse("admin:tablecron_schedulerinstance_changelist"))
    assert "已排队 3 分" in page  # a run waiting in its queue: "queued for 3 min …"
    assert "将记为已错过" in page
    assert "执行者主机" in page
    assert "排队时长" in page
    assert "1 分 30 秒" in page  # its time running
    assert "<h1>调度器与执行者</h1>" in workers.content.decode()


@pytest.mark.django_db
def test_the_dashboard_and_the_audit_trail_speak_chinese(admin_client: Client) -> None:
    flaky = job(name="flaky", cron="*/30 * * * *")
    flaky.save()  # recorded in the audit trail, by code
    JobRun.objects.create(
        job=flaky, scheduled_for=timezone.now(), status=RunStatus.FAILED, error="KeyError: 'x'"
    )
    with translation.override("zh-hans"):
        dashboard = admin_client.get(reverse("admin:tablecron_dashboard")).content.decode()
        trail = admin_client.get(reverse("admin:tablecron_job_audit")).content.decode()
    assert "未来 24 小时的触发" in dashboard
    assert "1 个任务在未来 24 小时内约触发 47 次" in dashboard  # from this half hour on: 47 more
    assert "最近 24 小时失败 1 次" in dashboard
    assert "没有正在运行的调度器" in dashboard
    assert "任务审计记录" in trail
    assert ">代码<" in trail  # who: code
    assert "已添加" in trail


@pytest.mark.django_db
def test_a_run_page_speaks_chinese(admin_client: Client) -> None:
    runs = runs_of_each_kind(timezone.now())
    url = reverse("admin:tablecron_jobrun_change", args=[runs["running"].pk])
    with translation.override("zh-hans"):
        page = admin_client.get(url).content.decode()
        form = admin_client.get(reverse("admin:tablecron_job_run", args=[runs["running"].job_id]))
    assert 'class="fieldset-heading">经过</h2>' in page  # the story
    assert "认领并入队" in page
    assert "正在运行，至今" in page
    assert "正在随运行实时跟踪输出" in page
    assert "取消运行</button>" in page
    assert "<h1>以其他参数立即运行…</h1>" in form.content.decode()
