"""The Python `caldav` library (PyPI) against Hearth: discovery from the base URL, calendars,
events (a weekly recurring one with an exception), month queries answered by the server's own
time-range filtering, edits, deletes, tasks with due dates and completion, address books.

Usage: caldav_client.py BASE_URL USER PASSWORD   (prints `ok NAME` / `FAIL NAME ...` lines)
"""

import sys
import traceback
import uuid
from datetime import date, datetime, timedelta, timezone

import caldav

BASE, USER, PASSWORD = sys.argv[1:4]
results = {"ok": 0, "fail": 0}


def check(name, cond, detail=""):
    if cond:
        results["ok"] += 1
        print(f"ok {name}")
    else:
        results["fail"] += 1
        print(f"FAIL {name} {detail}")


def step(name):
    """Runs a test step; an exception is a failure with its traceback, not a crash."""

    def wrap(fn):
        try:
            fn()
        except Exception:  # noqa: BLE001 - a failing step must not hide the others
            results["fail"] += 1
            print(f"FAIL {name} (exception)")
            traceback.print_exc(file=sys.stdout)
        return fn

    return wrap


def ical(body):
    return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//hearth-tests//caldav//EN\r\n" + body + "END:VCALENDAR\r\n"


client = caldav.DAVClient(url=f"{BASE}/remote.php/dav/", username=USER, password=PASSWORD)
state = {}


@step("discovery")
def _():
    principal = client.principal()
    state["principal"] = principal
    check("discovery: principal URL", str(principal.url).endswith(f"/remote.php/dav/principals/users/{USER}/"), principal.url)
    home = principal.calendar_home_set
    check("discovery: calendar home", str(home.url).endswith(f"/remote.php/dav/calendars/{USER}/"), home.url)
    names = [c.get_display_name() for c in principal.calendars()]
    check("discovery: default Personal calendar", "Personal" in names, names)


@step("calendar lifecycle")
def _():
    p = state["principal"]
    cal = p.make_calendar(name="Family Events", cal_id="family-" + uuid.uuid4().hex[:6])
    state["cal"] = cal
    check("make_calendar: shows up", any(c.url == cal.url for c in p.calendars()))
    check("make_calendar: display name", cal.get_display_name() == "Family Events", cal.get_display_name())


@step("events")
def _():
    cal = state["cal"]
    weekly = ical(
        "BEGIN:VEVENT\r\nUID:weekly-1@hearth\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART:20260105T180000Z\r\nDTEND:20260105T190000Z\r\nRRULE:FREQ=WEEKLY\r\n"
        "EXDATE:20260119T180000Z\r\nSUMMARY:Swimming\r\nEND:VEVENT\r\n"
        # the 26 January instance moved to the 27th
        "BEGIN:VEVENT\r\nUID:weekly-1@hearth\r\nDTSTAMP:20260101T000000Z\r\n"
        "RECURRENCE-ID:20260126T180000Z\r\nDTSTART:20260127T180000Z\r\nDTEND:20260127T190000Z\r\n"
        "SUMMARY:Swimming (Tuesday)\r\nEND:VEVENT\r\n"
    )
    cal.add_event(weekly)
    cal.add_event(ical(
        "BEGIN:VEVENT\r\nUID:dentist@hearth\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART:20260210T090000Z\r\nDTEND:20260210T100000Z\r\nSUMMARY:Dentist\r\nEND:VEVENT\r\n"
    ))
    cal.add_event(ical(
        "BEGIN:VEVENT\r\nUID:holiday@hearth\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART;VALUE=DATE:20260115\r\nDTEND;VALUE=DATE:20260117\r\nSUMMARY:Holiday\r\nEND:VEVENT\r\n"
    ))
    utc = timezone.utc
    jan = (datetime(2026, 1, 1, tzinfo=utc), datetime(2026, 2, 1, tzinfo=utc))
    # The server's own filtering: no client-side post-filter, no client-side expansion.
    found = cal.search(start=jan[0], end=jan[1], event=True, expand=False, post_filter=False)
    uids = sorted(str(e.icalendar_component["UID"]) for e in found)
    check("search January (server filtering)", uids == ["holiday@hearth", "weekly-1@hearth"], uids)
    feb = cal.search(start=datetime(2026, 2, 1, tzinfo=utc), end=datetime(2026, 3, 1, tzinfo=utc), event=True, expand=False, post_filter=False)
    uids = sorted(str(e.icalendar_component["UID"]) for e in feb)
    check("search February: recurring + dentist", uids == ["dentist@hearth", "weekly-1@hearth"], uids)
    # A week that holds only the excluded instance: the recurring event must not match.
    wk = cal.search(start=datetime(2026, 1, 19, tzinfo=utc), end=datetime(2026, 1, 20, tzinfo=utc), event=True, expand=False, post_filter=False)
    check("EXDATE respected by the server", [str(e.icalendar_component["UID"]) for e in wk] == [], [e.url for e in wk])
    # The moved instance: matched on the 27th, not on the 26th.
    d26 = cal.search(start=datetime(2026, 1, 26, tzinfo=utc), end=datetime(2026, 1, 27, tzinfo=utc), event=True, expand=False, post_filter=False)
    d27 = cal.search(start=datetime(2026, 1, 27, tzinfo=utc), end=datetime(2026, 1, 28, tzinfo=utc), event=True, expand=False, post_filter=False)
    check("RECURRENCE-ID override moves the instance", len(d26) == 0 and len(d27) == 1, (len(d26), len(d27)))
    # Client-side expansion of the server's answer: 4 swims in January (5th, 12th, 27th; 19th excluded… plus none)
    exp = cal.search(start=jan[0], end=jan[1], event=True, expand=True)
    swims = [e for e in exp if "Swimming" in str(e.icalendar_component["SUMMARY"])]
    check("expanded January swims = 3", len(swims) == 3, [str(e.icalendar_component.get("DTSTART").dt) for e in swims])
    srv = cal.search(start=jan[0], end=jan[1], event=True, expand=True, server_expand=True)
    starts = sorted(str(e.icalendar_component.get("DTSTART").dt) for e in srv if "Swimming" in str(e.icalendar_component["SUMMARY"]))
    check("server-side expansion: 3 January swims, moved one on the 27th", len(starts) == 3 and starts[-1].startswith("2026-01-27"), starts)
    rids = [e.icalendar_component.get("RECURRENCE-ID") for e in srv if "Swimming" in str(e.icalendar_component["SUMMARY"])]
    check("server-side expansion: every instance has a RECURRENCE-ID", all(r is not None for r in rids), rids)
    state["dentist"] = cal.event_by_uid("dentist@hearth")


@step("edit and delete")
def _():
    cal = state["cal"]
    ev = state["dentist"]
    ev.icalendar_component["SUMMARY"] = "Dentist (moved)"
    ev.icalendar_component["DTSTART"].dt = datetime(2026, 2, 11, 9, tzinfo=timezone.utc)
    ev.icalendar_component["DTEND"].dt = datetime(2026, 2, 11, 10, tzinfo=timezone.utc)
    ev.save()
    again = cal.event_by_uid("dentist@hearth")
    check("edit: summary saved", str(again.icalendar_component["SUMMARY"]) == "Dentist (moved)")
    day = cal.search(start=datetime(2026, 2, 11, tzinfo=timezone.utc), end=datetime(2026, 2, 12, tzinfo=timezone.utc), event=True, expand=False, post_filter=False)
    check("edit: found on the new day", [str(e.icalendar_component["UID"]) for e in day] == ["dentist@hearth"], day)
    again.delete()
    try:
        cal.event_by_uid("dentist@hearth")
        check("delete: gone", False, "still found")
    except caldav.lib.error.NotFoundError:
        check("delete: gone", True)


@step("tasks")
def _():
    p = state["principal"]
    tasks = p.make_calendar(name="Chores", cal_id="chores-" + uuid.uuid4().hex[:6], supported_calendar_component_set=["VTODO"])
    tasks.add_todo(ical("BEGIN:VTODO\r\nUID:milk@hearth\r\nDTSTAMP:20260101T000000Z\r\nDUE:20260110T170000Z\r\nSUMMARY:Buy milk\r\nSTATUS:NEEDS-ACTION\r\nEND:VTODO\r\n"))
    tasks.add_todo(ical("BEGIN:VTODO\r\nUID:bins@hearth\r\nDTSTAMP:20260101T000000Z\r\nDUE:20260112T070000Z\r\nSUMMARY:Bins out\r\nEND:VTODO\r\n"))
    pending = sorted(str(t.icalendar_component["UID"]) for t in tasks.todos())
    check("tasks: two pending", pending == ["bins@hearth", "milk@hearth"], pending)
    milk = tasks.todo_by_uid("milk@hearth")
    milk.complete()
    pending = sorted(str(t.icalendar_component["UID"]) for t in tasks.todos())
    check("tasks: completed one no longer pending", pending == ["bins@hearth"], pending)
    everything = sorted(str(t.icalendar_component["UID"]) for t in tasks.todos(include_completed=True))
    check("tasks: include_completed lists both", everything == ["bins@hearth", "milk@hearth"], everything)
    done = tasks.todo_by_uid("milk@hearth")
    check("tasks: STATUS:COMPLETED stored", str(done.icalendar_component.get("STATUS")) == "COMPLETED")
    due = tasks.search(todo=True, start=datetime(2026, 1, 11, tzinfo=timezone.utc), end=datetime(2026, 1, 13, tzinfo=timezone.utc), include_completed=True, post_filter=False)
    check("tasks: due-date time range", [str(t.icalendar_component["UID"]) for t in due] == ["bins@hearth"], due)
    try:
        state["cal"].add_todo(ical("BEGIN:VTODO\r\nUID:x@hearth\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:x\r\nEND:VTODO\r\n"))
        ok = True
    except caldav.lib.error.DAVError:
        ok = False
    check("tasks: event calendar created by make_calendar accepts tasks by default", ok)
    try:
        tasks.add_event(ical("BEGIN:VEVENT\r\nUID:ev-in-tasks@hearth\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260101T100000Z\r\nEND:VEVENT\r\n"))
        check("tasks: a VTODO-only calendar refuses an event", False, "accepted")
    except caldav.lib.error.DAVError as e:
        check("tasks: a VTODO-only calendar refuses an event", True, e)


@step("calendar delete")
def _():
    cal = state["cal"]
    cal.delete()
    check("calendar deleted", all(c.url != cal.url for c in state["principal"].calendars()))


print(f"{results['ok']} passed, {results['fail']} failed")
sys.exit(1 if results["fail"] else 0)
