"""Two users and the Python `caldav` library: alice invites bob (a user of the box) and carol
(outside it); bob finds the invitation in his schedule inbox and his calendar, accepts it
from his calendar, and alice sees PARTSTAT=ACCEPTED; alice cancels and bob's copy goes.
Carol's iMIP mails are checked by the calling script at the SMTP server.

Usage: caldav_scheduling.py BASE ALICE ALICE_PW BOB BOB_PW   (prints ok/FAIL lines)
"""

import sys
import traceback

import caldav

BASE, ALICE, ALICE_PW, BOB, BOB_PW = sys.argv[1:6]
results = {"ok": 0, "fail": 0}


def check(name, cond, detail=""):
    results["ok" if cond else "fail"] += 1
    print(f"ok {name}" if cond else f"FAIL {name} {detail}")


def personal(principal):
    return next(c for c in principal.calendars() if c.get_display_name() == "Personal")


def bob_partstat(event):
    for att in event.icalendar_component.get("ATTENDEE", []) if isinstance(event.icalendar_component.get("ATTENDEE"), list) else [event.icalendar_component.get("ATTENDEE")]:
        if att is not None and "bob@" in str(att):
            return att.params.get("PARTSTAT")
    return None


INVITE = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//hearth-tests//scheduling//EN\r\n"
    "BEGIN:VEVENT\r\nUID:family-dinner@hearth\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART:20260307T180000Z\r\nDTEND:20260307T200000Z\r\nSUMMARY:Family dinner\r\n"
    "ORGANIZER;CN=Alice:mailto:alice@family.test\r\n"
    "ATTENDEE;CN=Alice;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:alice@family.test\r\n"
    "ATTENDEE;CN=Bob;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@family.test\r\n"
    "ATTENDEE;CN=Carol;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:carol@elsewhere.test\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)

try:
    alice = caldav.DAVClient(url=f"{BASE}/remote.php/dav/", username=ALICE, password=ALICE_PW).principal()
    bob = caldav.DAVClient(url=f"{BASE}/remote.php/dav/", username=BOB, password=BOB_PW).principal()
    a_cal = personal(alice)
    a_cal.add_event(INVITE)
    inbox = bob.schedule_inbox()
    items = inbox.get_objects() if hasattr(inbox, "get_objects") else inbox.objects()
    items = list(items)
    for i in items:
        i.load()
    requests = [i for i in items if "METHOD:REQUEST" in i.data and "family-dinner@hearth" in i.data]
    check("bob: invitation in his schedule inbox (METHOD:REQUEST)", len(requests) == 1, [i.url for i in items])
    b_cal = personal(bob)
    copy = b_cal.event_by_uid("family-dinner@hearth")
    check("bob: the event is in his calendar", "Family dinner" in copy.data)
    check("bob: his copy says NEEDS-ACTION", bob_partstat(copy) == "NEEDS-ACTION", bob_partstat(copy))
    copy.change_attendee_status(partstat="ACCEPTED")
    copy.save()
    org = a_cal.event_by_uid("family-dinner@hearth")
    check("alice: bob's PARTSTAT=ACCEPTED in her copy", bob_partstat(org) == "ACCEPTED", org.data)
    a_items = list(alice.schedule_inbox().get_objects() if hasattr(alice.schedule_inbox(), "get_objects") else alice.schedule_inbox().objects())
    for i in a_items:
        i.load()
    check("alice: a METHOD:REPLY in her inbox", any("METHOD:REPLY" in i.data for i in a_items), [i.url for i in a_items])
    # The organizer moves the dinner: bob's copy follows and keeps his answer.
    moved = org.data.replace("DTSTART:20260307T180000Z", "DTSTART:20260307T190000Z").replace("DTEND:20260307T200000Z", "DTEND:20260307T210000Z")
    org.data = moved
    org.save()
    copy = personal(bob).event_by_uid("family-dinner@hearth")
    check("bob: the move reached his copy", "20260307T190000Z" in copy.data, copy.data)
    check("bob: his answer survived the update", bob_partstat(copy) == "ACCEPTED", bob_partstat(copy))
    # Free-busy lookup through alice's schedule outbox (RFC 6638): bob is busy at the dinner.
    from datetime import datetime, timezone
    fb = alice.freebusy_request(
        datetime(2026, 3, 7, tzinfo=timezone.utc), datetime(2026, 3, 8, tzinfo=timezone.utc), ["mailto:bob@family.test"]
    )
    raw = " ".join(str(getattr(v, "data", v)) for v in (fb.values() if hasattr(fb, "values") else fb))
    check("free-busy: bob busy 19:00-21:00 on the day", "20260307T190000Z/20260307T210000Z" in raw, raw)
    org.delete()
    try:
        personal(bob).event_by_uid("family-dinner@hearth")
        check("bob: cancelled event gone from his calendar", False, "still there")
    except caldav.lib.error.NotFoundError:
        check("bob: cancelled event gone from his calendar", True)
except Exception:  # noqa: BLE001
    results["fail"] += 1
    print("FAIL scheduling (exception)")
    traceback.print_exc(file=sys.stdout)

print(f"{results['ok']} passed, {results['fail']} failed")
sys.exit(1 if results["fail"] else 0)
