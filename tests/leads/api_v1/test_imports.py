"""Manual imports (domain.md §5.3) through /api/v1/imports/: the file checked before anything is
stored, its rows through the insert service, the counts and the error report, cancel, resume
after a lost worker, and the campaign hold."""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test import Client

from campaigner.contract import Code
from campaigner.locks import LockKey
from leads.models import DncEntry, Lead, LeadImport, LeadImportFile
from leads.services import lead_import
from leads.services.lead_import import lead_import_run, lead_imports_recover
from tests.campaignapi import Api as CampaignApi
from tests.campaignapi import make_api
from tests.factories import AllocationFactory, CampaignFactory, LeadFactory, LeadPhoneFactory
from tests.leads.api_v1.conftest import Api
from tests.snapshot import database_rows

# An import's run and the CampaignAPI's write calls refuse to start inside a transaction, so
# the test's data is committed rather than rolled back.
pytestmark = pytest.mark.django_db(transaction=True)

HEADER = "Name,FirstPhone,SecondPhone,njExternalLeadId,njPriority,Shoe size\n"


@pytest.fixture
def api(client: Client) -> CampaignApi:
    return make_api(client)


def upload(
    admin_api: Api, api: CampaignApi, content: bytes | str, name: str = "leads.csv", **extra: Any
) -> Any:
    data = content.encode() if isinstance(content, str) else content
    form = {
        "template": api.template.pk,
        "campaign": api.campaign.pk,
        "allocation": api.allocation.pk,
        "file": io.BytesIO(data),
        **extra,
    }
    form["file"].name = name
    return admin_api.client.post("/api/v1/imports/", data=form)


def started(admin_api: Api, api: CampaignApi, content: str, **extra: Any) -> int:
    answer = upload(admin_api, api, content, **extra)
    assert answer.status_code == 202, answer.content
    return int(answer.json()["id"])


def status(admin_api: Api, import_id: int) -> dict[str, Any]:
    answer = admin_api.get(f"imports/{import_id}")
    assert answer.status_code == 200
    return dict(answer.json())


def report(admin_api: Api, import_id: int, query: str = "") -> list[list[str]]:
    answer = admin_api.get(f"imports/{import_id}/errors.csv{query}")
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/csv")
    text = b"".join(answer.streaming_content).decode()
    return list(csv.reader(io.StringIO(text, newline="")))


def test_an_import_checks_each_row_as_insert_leads_fast_and_reports_the_rest(
    admin_api: Api, api: CampaignApi
) -> None:
    LeadFactory(allocation=api.allocation, external_id="taken")
    LeadPhoneFactory(lead=Lead.objects.get(external_id="taken"), number="+61400000009")
    DncEntry.objects.create(number="+61383218100")
    content = (
        "\ufeff"
        + HEADER
        + (
            '"Smith, Ann",0400 000 001,,e1,5,9\n'  # imported (quoted comma, normalised number)
            '"Line\nbreak",0400000002,,,,\n'  # imported: a newline inside a quoted cell
            "Dup,0400000001,,,,\n"  # 105: the number of an earlier row
            "Old,0400000009,,,,\n"  # 105: already in the campaign
            "Blocked,0383218100,,,,\n"  # 104
            "Taken,0400000003,,taken,,\n"  # 112
            "Loud,0400000004,,,101,\n"  # 151
            "Short,0400000005\n"  # 150: fewer cells than the header
            "Nothing,,,,,\n"  # 102
            "\n"  # a blank line is no row
            "Last,0400000006,0400000007,e2,,\n"
        )
    )
    import_id = started(admin_api, api, content)
    queued = status(admin_api, import_id)
    assert queued["status"] == "queued" and queued["rows"] == 10 and queued["processed"] == 0
    assert queued["ignoredColumns"] == ["Shoe size"] and queued["fileName"] == "leads.csv"

    assert lead_import_run(import_id) == "done"
    done = status(admin_api, import_id)
    assert done == {
        **done,
        "status": "done",
        "processed": 10,
        "imported": 3,
        "rejected": 7,
        "rejectedByCode": {"102": 1, "104": 1, "105": 2, "112": 1, "150": 1, "151": 1},
        "createdBy": "root",
        "error": "",
    }
    assert done["startedAt"] and done["finishedAt"]
    leads = {lead.fields["Name"]: lead for lead in Lead.objects.exclude(external_id="taken")}
    assert set(leads) == {"Smith, Ann", "Line\nbreak", "Last"}
    assert leads["Smith, Ann"].priority == 5 and leads["Smith, Ann"].external_id == "e1"
    assert "Shoe size" not in leads["Smith, Ann"].fields
    assert sorted(leads["Last"].phones.values_list("number", flat=True)) == [
        "+61400000006",
        "+61400000007",
    ]
    rows = report(admin_api, import_id)
    assert rows[0] == ["line", "code", "reason", *HEADER.strip().split(",")]
    assert [(r[0], r[1], r[3]) for r in rows[1:]] == [
        ("5", "105", "Dup"),
        ("6", "105", "Old"),
        ("7", "104", "Blocked"),
        ("8", "112", "Taken"),
        ("9", "151", "Loud"),
        ("10", "150", "Short"),
        ("11", "102", "Nothing"),
    ]
    assert rows[6][2] == "2 cells where the header has 6" and rows[6][3:] == [
        "Short",
        "0400000005",
    ]
    assert not LeadImportFile.objects.exists()  # the file is dropped once imported


def test_the_report_for_a_spreadsheet_shows_formulas_as_text(
    admin_api: Api, api: CampaignApi
) -> None:
    """The report as sent can be imported again, cells as they were; the spreadsheet download
    neutralises every cell a spreadsheet would run (CSV injection), the header's too."""
    content = (
        "Name,FirstPhone,=cmd|' /C calc'!A0\n"
        '"=HYPERLINK(""http://x.example"",""hi"")",0400000001,@SUM(1)\n'
        "+1,,-2\n"
        "\tTab,0400000001,ok\n"
    )
    import_id = started(admin_api, api, content)
    assert lead_import_run(import_id) == "done"
    as_sent = report(admin_api, import_id)
    assert as_sent[0][3:] == ["Name", "FirstPhone", "=cmd|' /C calc'!A0"]
    assert [r[3:] for r in as_sent[1:]] == [["+1", "", "-2"], ["\tTab", "0400000001", "ok"]]
    safe = report(admin_api, import_id, "?spreadsheet=1")
    assert safe[0][3:] == ["Name", "FirstPhone", "'=cmd|' /C calc'!A0"]
    assert [r[3:] for r in safe[1:]] == [["'+1", "", "'-2"], ["'\tTab", "0400000001", "ok"]]
    assert [r[:3] for r in safe] == [r[:3] for r in as_sent]  # line, code, reason unchanged
    answer = admin_api.get(f"imports/{import_id}/errors.csv?spreadsheet=1")
    assert answer["Content-Disposition"].endswith(f'import-{import_id}-errors-spreadsheet.csv"')


BAD_FILES = [
    (b"", "the file is empty"),
    (b"\xef\xbb\xbf\n\n", "the file is empty"),
    (HEADER.encode(), "the file has a header but no rows"),
    (b"Name,City\nAnn,Perth\n", "no column is mapped to a phone field of the template"),
    (b"FirstPhone,Name,FirstPhone\n1,2,3\n", "the column 'FirstPhone' appears twice"),
    (b"Name,FirstPhone\nAnn,0400000001\nB\xe9a,0400000002\n", "the file is not UTF-8 text"),
    (b'Name,FirstPhone\n"Ann"x,0400000001\n', "the file is not CSV at line 2"),
    (b'Name,FirstPhone\n"Ann,0400000001\n', "the file is not CSV at line 2"),
]


@pytest.mark.parametrize(("content", "message"), BAD_FILES)
def test_a_bad_file_is_refused_and_nothing_is_stored(
    admin_api: Api, api: CampaignApi, content: bytes, message: str
) -> None:
    before = database_rows()
    answer = upload(admin_api, api, content)
    assert answer.status_code == 400, answer.content
    body = answer.json()
    assert body["reason"] == "invalid" and body["detail"].startswith(message), body
    field = "mapping" if "mapped" in message else "file"
    assert body["errors"] == {field: [body["detail"]]}
    assert database_rows() == before


def test_the_size_limit_and_the_target_are_checked(
    admin_api: Api, api: CampaignApi, settings: Any
) -> None:
    other = AllocationFactory(campaign=CampaignFactory(template=api.template))
    before = database_rows()
    settings.LEAD_IMPORT_MAX_BYTES = 100
    too_big = upload(admin_api, api, HEADER + "Ann,0400000001,,,,\n" * 5)
    assert too_big.status_code == 400
    assert too_big.json()["detail"] == "the file is larger than 100 bytes"
    settings.LEAD_IMPORT_MAX_BYTES = 10_000
    mismatch = upload(admin_api, api, HEADER + "Ann,0400000001,,,,\n", allocation=other.pk)
    assert mismatch.status_code == 400
    assert mismatch.json()["errors"] == {
        "allocation": ["the allocation is not one of the campaign's"]
    }
    no_file = admin_api.post("imports/", {"template": api.template.pk})
    assert no_file.status_code == 400 and set(no_file.json()["errors"]) >= {"file", "campaign"}
    # The file under another form key: both the unknown key and the missing file are named.
    other_key = io.BytesIO(b"Name,FirstPhone\nAnn,0400000001\n")
    other_key.name = "leads.csv"
    form = {"template": api.template.pk, "campaign": api.campaign.pk,
            "allocation": api.allocation.pk, "upload": other_key}  # fmt: skip
    misnamed = admin_api.client.post("/api/v1/imports/", data=form)
    assert misnamed.status_code == 400
    assert misnamed.json()["errors"] == {
        "file": ["No file was submitted."], "upload": ["Unknown key."],
    }  # fmt: skip
    assert database_rows() == before
    assert database_rows() == before


def test_imports_are_scoped_to_the_users_teams(
    admin_api: Api, api: CampaignApi, team_api: Any
) -> None:
    import_id = started(admin_api, api, HEADER + "Ann,0400000001,,,,\n")
    outsider = team_api("Elsewhere", perms=("leads.add_leadimport",))
    assert outsider.get(f"imports/{import_id}").status_code == 404
    assert outsider.get("imports/").json()["count"] == 0
    refused = upload(outsider, api, HEADER + "Bob,0400000002,,,,\n")
    assert refused.status_code == 400 and set(refused.json()["errors"]) == {
        "template",
        "campaign",
        "allocation",
    }
    api.template.teams.add(outsider_team := api.template.teams.model.objects.get(name="Elsewhere"))
    assert outsider_team and outsider.get(f"imports/{import_id}").status_code == 200
    assert outsider.post(f"imports/{import_id}/cancel").status_code == 403


@pytest.fixture
def small_chunks(settings: Any) -> None:
    settings.LEAD_IMPORT_CHUNK_ROWS = 4


def rows(count: int, start: int = 0) -> str:
    return HEADER + "".join(f"r{i},04{i:08d},,,,\n" for i in range(start, start + count))


def test_cancel_stops_after_the_current_chunk(
    admin_api: Api, api: CampaignApi, small_chunks: None, monkeypatch: Any
) -> None:
    import_id = started(admin_api, api, rows(20))
    real = lead_import._Progress.run
    calls = []

    def run_then_cancel(self: Any, *args: Any, **kwargs: Any) -> None:
        real(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            assert admin_api.post(f"imports/{import_id}/cancel").json()["cancelRequested"]

    monkeypatch.setattr(lead_import._Progress, "run", run_then_cancel)
    assert lead_import_run(import_id) == "cancelled"
    cancelled = status(admin_api, import_id)
    assert (cancelled["status"], cancelled["processed"], cancelled["imported"]) == (
        "cancelled",
        8,
        8,
    )
    assert Lead.objects.count() == 8
    assert lead_import_run(import_id) == "cancelled"  # a late second delivery does nothing


def test_a_queued_import_is_cancelled_at_once(admin_api: Api, api: CampaignApi) -> None:
    import_id = started(admin_api, api, rows(3))
    assert admin_api.post(f"imports/{import_id}/cancel").json()["status"] == "cancelled"
    assert lead_import_run(import_id) == "cancelled" and not Lead.objects.exists()


class WorkerLost(BaseException):
    """What a dying worker looks like from inside: not an error the run could catch."""


def test_a_lost_worker_is_resumed_after_its_last_committed_chunk(
    admin_api: Api, api: CampaignApi, small_chunks: None, monkeypatch: Any
) -> None:
    import_id = started(admin_api, api, rows(18) + "bad,04000000x,,,,\n")
    real = lead_import._Progress._write
    writes = []

    def die_in_the_third_chunk(self: Any, *args: Any) -> None:
        writes.append(1)
        if len(writes) == 3:
            raise WorkerLost  # inside the chunk's transaction: it rolls back
        real(self, *args)

    monkeypatch.setattr(lead_import._Progress, "_write", die_in_the_third_chunk)
    with pytest.raises(WorkerLost):
        lead_import_run(import_id)
    lost = LeadImport.objects.get(pk=import_id)
    assert (lost.status, lost.processed, Lead.objects.count()) == ("running", 8, 8)
    queued: list[int] = []
    LeadImport.objects.filter(pk=import_id).update(created_at=lost.created_at)
    assert lead_imports_recover(queued.append) == [import_id] == queued
    assert lead_import_run(import_id) == "done"
    done = status(admin_api, import_id)
    assert (done["processed"], done["imported"], done["rejected"]) == (19, 18, 1)
    numbers = list(Lead.objects.values_list("phones__number", flat=True))
    assert len(numbers) == len(set(numbers)) == 18  # no row written twice
    assert LeadImport.objects.get(pk=import_id).runs == 2


def test_an_import_whose_worker_keeps_dying_fails_with_the_reason(
    admin_api: Api, api: CampaignApi
) -> None:
    import_id = started(admin_api, api, rows(3))
    LeadImport.objects.filter(pk=import_id).update(status="running", runs=lead_import.MAX_RUNS)
    assert lead_import_run(import_id) == "failed"
    failed = status(admin_api, import_id)
    assert failed["error"].startswith("its worker stopped 3 times") and not Lead.objects.exists()


def test_a_running_import_is_not_recovered(admin_api: Api, api: CampaignApi) -> None:
    import_id = started(admin_api, api, rows(3))
    LeadImport.objects.filter(pk=import_id).update(status="running")
    runner = connections.create_connection(DEFAULT_DB_ALIAS)  # its runner's session
    try:
        with runner.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_lock(%s, %s)", [int(LockKey.LEAD_IMPORT_RUN), import_id]
            )
        found: list[int] = []
        assert lead_imports_recover(found.append) == [] == found
    finally:
        runner.close()
    # The server ends the closed session (and its lock) a moment after the client has gone.
    deadline = time.monotonic() + 10
    while not (recovered := lead_imports_recover(found.append)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert recovered == [import_id] == found


@pytest.fixture
def held_import(
    admin_api: Api, api: CampaignApi, small_chunks: None, monkeypatch: Any
) -> Iterator[int]:
    """An import running in a thread, stopped inside its second chunk until the test lets go."""
    import_id = started(admin_api, api, rows(12))
    inside, release = threading.Event(), threading.Event()
    real = lead_import._Progress.run
    calls = []

    def slow(self: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            inside.set()
            release.wait(30)
        real(self, *args, **kwargs)

    monkeypatch.setattr(lead_import._Progress, "run", slow)

    def run() -> None:
        try:
            lead_import_run(import_id)
        finally:
            connection.close()

    runner = threading.Thread(target=run)
    runner.start()
    assert inside.wait(30)
    try:
        yield import_id
    finally:
        release.set()
        runner.join(30)


def test_inserts_into_the_held_campaign_wait_then_109_and_others_go_at_once(
    held_import: int, api: CampaignApi, settings: Any
) -> None:
    settings.CAMPAIGNAPI_QUEUE_TIMEOUT_S = 0.5
    before = Lead.objects.count()
    started_at = time.monotonic()
    answer = api.post("insertLeadFast", {"FirstPhone": "0499999999"}).json()
    waited = time.monotonic() - started_at
    assert answer["code"] == Code.TIMEOUT_TOO_MANY_CONCURRENT_REQUESTS and waited >= 0.5
    assert not Lead.objects.filter(phones__number="+61499999999").exists()
    other = AllocationFactory(campaign=CampaignFactory(template=api.template))
    started_at = time.monotonic()
    elsewhere = api.post(
        "insertLeadFast", {"FirstPhone": "0499999999"}, fCampaignId=other.campaign_id,
        fAllocationId=other.pk,
    ).json()  # fmt: skip
    assert elsewhere["code"] == 0 and time.monotonic() - started_at < 0.5
    assert Lead.objects.count() == before + 1
    assert status_of(held_import) == "running"


def status_of(import_id: int) -> str:
    return str(LeadImport.objects.get(pk=import_id).status)


def test_rejections_hold_the_row_as_sent(admin_api: Api, api: CampaignApi) -> None:
    import_id = started(admin_api, api, HEADER + "A\x00b,0400000001,,,,\n")
    assert lead_import_run(import_id) == "done"
    assert report(admin_api, import_id)[1][:4] == [
        "2",
        str(int(Code.MALFORMED_REQUEST)),
        "'Name' contains a NUL character or an unpaired surrogate",
        "A\ufffdb",
    ]


def test_the_report_of_many_chunks_is_in_file_order(
    admin_api: Api, api: CampaignApi, small_chunks: None
) -> None:
    """Rows rejected in different chunks (and a chunk with none) come out in line order."""
    DncEntry.objects.create(number="+61400000001")
    content = rows(14).replace("r5,0400000005,,,,", "r5,,,,,").replace("r13,", "r13,x,y,z,")
    content = content.replace("r3,0400000003,,,,", "r3,0400000001,,,,")  # r1's DNC number again
    import_id = started(admin_api, api, content)
    assert lead_import_run(import_id) == "done"
    lines = [(line, code) for line, code, *_ in report(admin_api, import_id)[1:]]
    assert lines == [("3", "104"), ("5", "104"), ("7", "102"), ("15", "150")]
    assert status(admin_api, import_id)["imported"] == 10


def test_a_finished_import_has_its_campaigns_cache_rebuilt_and_figures_recounted(
    admin_api: Api, api: CampaignApi
) -> None:
    """Its leads are dialable at once, and counted on the dashboard, not after beat's next
    round of rebuilds."""
    from campaigner.celery import app as celery_app
    from dialer import tasks  # registers the tasks the import queues by name
    from dialer.models import CampaignCache, CampaignStats
    from tests.dialer.conftest import always_open

    assert tasks.dialer_cache_refresh_task.name == lead_import.CACHE_REFRESH_TASK
    assert tasks.campaign_stats_refresh_task.name == lead_import.STATS_REFRESH_TASK

    api.template.contact_hours = always_open()
    api.template.save()
    api.campaign.active = True
    api.campaign.save()
    api.allocation.started = True
    api.allocation.save()
    import_id = started(admin_api, api, HEADER + "Ann,0400000001,,,,\nBob,0400000002,,,,\n")
    celery_app.conf.task_always_eager = True
    try:
        assert lead_import_run(import_id) == "done"
    finally:
        celery_app.conf.task_always_eager = False
    cache = CampaignCache.objects.get(pk=api.campaign.pk)
    assert cache.size == 2 and cache.refreshed_at is not None
    stats = CampaignStats.objects.get(pk=api.campaign.pk)
    assert (stats.leads, stats.detail["states"]["dialable"]) == (2, 2)
    assert set(cache.entries.values_list("lead_id", flat=True)) == set(
        Lead.objects.values_list("pk", flat=True)
    )
