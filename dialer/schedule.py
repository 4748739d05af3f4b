"""Contact Hours as a schedule (domain.md §1-§2): is a moment inside them, and when do they
next open. Pure; ``schedule_load`` reads the definitions.

Windows are wall-clock times of the Contact Hours' IANA zone, so a moment is converted to local
time with ``zoneinfo`` and compared there: on a daylight-saving change the same wall-clock
window covers one hour less or more of real time, as a caller on the ground expects. A closed
date closes the whole local day.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass

from campaigner.models import ContactHours, ZoneMode

# How far ahead next_open looks (a year of closed dates would be an odd configuration).
LOOKAHEAD_DAYS = 400


@dataclass(frozen=True)
class Schedule:
    id: int
    name: str
    zone: zoneinfo.ZoneInfo
    windows: tuple[tuple[int, int, int], ...]  # (weekday 0=Mon, start minute, end minute)
    closed_dates: frozenset[dt.date]
    zone_mode: str = ZoneMode.HOURS

    def zones_for(self, number_zones: tuple[str, ...]) -> tuple[str, ...]:
        """The zones whose wall clock the windows are read in for a number that
        libphonenumber places in ``number_zones``; ``()``: the schedule's own zone (its mode
        says so, the number has no zone, or has several and the mode falls back then)."""
        if self.zone_mode == ZoneMode.HOURS or not number_zones:
            return ()
        if len(number_zones) > 1 and self.zone_mode == ZoneMode.NUMBER_OR_HOURS:
            return ()
        return number_zones

    def closed_on(self, at: dt.datetime, zone: zoneinfo.ZoneInfo | None = None) -> bool:
        return at.astimezone(zone or self.zone).date() in self.closed_dates

    def is_open(self, at: dt.datetime, zone: zoneinfo.ZoneInfo | None = None) -> bool:
        """Whether ``at`` is inside the windows, read in ``zone`` (default: the schedule's)."""
        local = at.astimezone(zone or self.zone)
        if local.date() in self.closed_dates:
            return False
        minute = local.hour * 60 + local.minute
        weekday = local.weekday()
        return any(d == weekday and s <= minute < e for d, s, e in self.windows)

    def open_in(self, at: dt.datetime, zones: tuple[zoneinfo.ZoneInfo, ...]) -> bool:
        """Open in every one of ``zones`` (none: the schedule's own zone)."""
        return all(self.is_open(at, zone) for zone in zones or (self.zone,))

    def next_open(
        self, at: dt.datetime, zones: tuple[zoneinfo.ZoneInfo, ...] = ()
    ) -> dt.datetime | None:
        """The first moment at or after ``at`` when the schedule is open in every one of
        ``zones`` (none: its own zone), or ``None`` if there is none within
        ``LOOKAHEAD_DAYS``. It is ``at`` or a moment when one of the zones opens."""
        zones = zones or (self.zone,)
        if self.open_in(at, zones):
            return at
        for days in (14, LOOKAHEAD_DAYS):  # most answers are within two weeks
            openings = sorted(opens for zone in zones for opens in self._openings(at, zone, days))
            found = next((opens for opens in openings if self.open_in(opens, zones)), None)
            if found is not None:
                return found
        return None

    def _openings(self, at: dt.datetime, zone: zoneinfo.ZoneInfo, days: int) -> list[dt.datetime]:
        """The moments from ``at`` on, within ``days`` days, when a window opens in ``zone``."""
        found = []
        local = at.astimezone(zone)
        for offset in range(days):
            day = local.date() + dt.timedelta(days=offset)
            if day in self.closed_dates:
                continue
            for weekday, start, _end in self.windows:
                if weekday == day.weekday():
                    opens = _instant(day, start, zone)
                    if opens >= at:
                        found.append(opens)
        return found


def _instant(day: dt.date, minute: int, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The instant of a local wall-clock time. A time skipped by a daylight-saving change
    (02:30 when clocks jump from 02:00 to 03:00) opens at the jump, the first real moment after
    it; a repeated time takes its first occurrence."""
    wall = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), tzinfo=zone)
    real = wall.astimezone(dt.UTC).astimezone(zone)
    if real.replace(tzinfo=None) != wall.replace(tzinfo=None):
        return _gap_end(wall, zone)
    return real


def _gap_end(wall: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """The first real moment after the gap containing ``wall``: walk forward a minute at a
    time (a gap is at most a few hours) until the wall time exists."""
    probe = wall.replace(tzinfo=None)
    while True:
        probe += dt.timedelta(minutes=1)
        candidate = probe.replace(tzinfo=zone)
        if candidate.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) == probe:
            return candidate


def schedule_of(hours: ContactHours) -> Schedule:
    """A schedule from a ContactHours with ``windows`` and ``closed_dates`` (prefetched or not)."""
    return Schedule(
        id=hours.pk,
        name=hours.name,
        zone=zoneinfo.ZoneInfo(hours.timezone),
        windows=tuple((w.weekday, w.start_minute, w.end_minute) for w in hours.windows.all()),
        closed_dates=frozenset(d.date for d in hours.closed_dates.all()),
        zone_mode=hours.zone_mode,
    )


def schedule_load(ids: Iterable[int] | None = None) -> dict[int, Schedule]:
    """Schedules by id (all when ``ids`` is None), in three queries."""
    hours = ContactHours.objects.prefetch_related("windows", "closed_dates")
    if ids is not None:
        hours = hours.filter(pk__in=list(ids))
    return {h.pk: schedule_of(h) for h in hours}
