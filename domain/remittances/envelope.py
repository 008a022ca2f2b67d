"""The ISA/GS/ST envelope: groups segments into transaction sets and checks counts and controls.

Checked: every ST is an 835; SE01 = segments from ST to SE inclusive; GE01 = transaction sets in
the group; IEA01 = groups in the interchange; ST02 = SE02, GS06 = GE02, ISA13 = IEA02; nothing
stands outside its envelope; and no trailer is missing (a file that stops early is truncated).
Counts and control numbers are `Issues` (a lenient parse keeps them; a strict one raises the
first after the whole envelope was read, so a truncated file is reported as truncated even when
it was cut inside a trailer); the rest always raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.remittances.errors import (
    BAD_CONTROL_NUMBER,
    BAD_COUNT,
    BAD_SEPARATORS,
    MALFORMED,
    NOT_835,
    TRUNCATED,
    Issues,
    ParseIssue,
    RemittanceError,
)
from domain.remittances.x12 import Segment, Separators, Tokens

_CONTROL_TAGS = frozenset({"ISA", "IEA", "GS", "GE", "ST", "SE"})


@dataclass(frozen=True, slots=True)
class Envelope:
    """The interchange (ISA) and functional group (GS) a transaction set arrived in."""

    separators: Separators
    interchange_control: str  # ISA13
    sender_id: str  # ISA06, trimmed
    receiver_id: str  # ISA08, trimmed
    interchange_version: str  # ISA12, e.g. 00501
    usage: str  # ISA15: P production, T test
    functional_id: str  # GS01, HP for an 835
    application_sender: str  # GS02
    application_receiver: str  # GS03
    group_control: str  # GS06
    group_version: str  # GS08, e.g. 005010X221A1
    isa_segment: int
    gs_segment: int


@dataclass(frozen=True, slots=True)
class TransactionSet:
    """One ST..SE transaction set: its header, body, trailer, envelope and envelope issues."""

    header: Segment
    body: tuple[Segment, ...]
    trailer: Segment
    envelope: Envelope | None
    issues: tuple[ParseIssue, ...]


@dataclass(slots=True)
class _Pending:
    header: Segment
    body: tuple[Segment, ...]
    trailer: Segment
    envelope: Envelope | None
    issues: list[ParseIssue] = field(default_factory=list)


class _Reader:
    """Walks the segments once; `at` is the index of the next segment to read."""

    def __init__(self, tokens: Tokens, strict: bool) -> None:
        self.tokens = tokens
        self.segments = tokens.segments
        self.at = 0
        self.strict = strict
        self.found = Issues(strict=False)
        self.done: list[_Pending] = []

    def next_segment(self, missing: str, opened: Segment) -> Segment:
        """The next segment, or TRUNCATED naming the trailer that never came."""
        if self.at >= len(self.segments):
            last = self.segments[-1]
            raise RemittanceError.at(
                last.number,
                last.tag,
                TRUNCATED,
                f"the data ends here, {missing} missing for the {opened.tag} at segment "
                f"{opened.number}",
            )
        segment = self.segments[self.at]
        self.at += 1
        return segment

    def trailer_issues(self) -> Issues:
        """A fresh collector for one trailer's checks (raised at the end when strict)."""
        return Issues(strict=False)

    def keep(self, pending: list[_Pending], found: Issues) -> None:
        """Attach a trailer's issues to each set it closes, and remember them for strict mode."""
        self.found.items.extend(found.items)
        for item in pending:
            item.issues.extend(found.items)

    def read_file(self) -> list[TransactionSet]:
        while self.at < len(self.segments):
            first = self.segments[self.at]
            if self.tokens.has_envelope:
                if first.tag != "ISA":
                    raise _unexpected(first, "an ISA interchange header")
                self.read_interchange()
            else:
                if first.tag != "ST":
                    raise _unexpected(first, "ST (this file has no ISA/GS envelope)")
                self.done.append(self.read_set(None))
        if not self.done:
            raise RemittanceError(NOT_835, "the file holds no ST*835 transaction set")
        if self.strict and self.found.items:
            earliest = min(self.found.items, key=lambda issue: issue.segment)
            raise RemittanceError.from_issue(earliest)
        return [
            TransactionSet(p.header, p.body, p.trailer, p.envelope, tuple(p.issues))
            for p in self.done
        ]

    def read_interchange(self) -> None:
        isa = self.segments[self.at]
        self.at += 1
        if len(isa.elements) != 16:
            what = f"ISA has {len(isa.elements)} elements, not 16"
            raise RemittanceError.at(isa.number, "ISA", BAD_SEPARATORS, what)
        start, groups = len(self.done), 0
        while True:
            segment = self.next_segment("IEA", isa)
            if segment.tag == "GS":
                self.read_group(isa, segment)
                groups += 1
            elif segment.tag == "IEA":
                found = self.trailer_issues()
                _check_count(found, segment, groups, "groups", "the interchange")
                _check_control(found, segment, 2, isa, 13)
                self.keep(self.done[start:], found)
                return
            elif segment.tag == "ISA":
                raise _missing_trailer(segment, "IEA", isa)
            else:
                raise _unexpected(segment, "GS or IEA (it stands outside any group)")

    def read_group(self, isa: Segment, gs: Segment) -> None:
        envelope = _envelope(self.tokens.separators, isa, gs)
        start, sets = len(self.done), 0
        while True:
            segment = self.next_segment("GE", gs)
            if segment.tag == "ST":
                self.at -= 1
                self.done.append(self.read_set(envelope))
                sets += 1
            elif segment.tag == "GE":
                found = self.trailer_issues()
                _check_count(found, segment, sets, "transaction sets", "the group")
                _check_control(found, segment, 2, gs, 6)
                self.keep(self.done[start:], found)
                return
            elif segment.tag in {"ISA", "IEA", "GS"}:
                raise _missing_trailer(segment, "GE", gs)
            else:
                raise _unexpected(segment, "ST or GE (it stands outside any transaction set)")

    def read_set(self, envelope: Envelope | None) -> _Pending:
        st = self.segments[self.at]
        self.at += 1
        if st.get(1) != "835":
            raise RemittanceError.at(
                st.number, "ST", NOT_835, f"ST01 is {st.get(1)!r}: this reader takes 835s only"
            )
        begin = self.at
        while True:
            segment = self.next_segment("SE", st)
            if segment.tag == "SE":
                break
            if segment.tag in _CONTROL_TAGS:
                raise _missing_trailer(segment, "SE", st)
        found = self.trailer_issues()
        _check_count(found, segment, self.at - begin + 1, "segments", "the transaction set")
        _check_control(found, segment, 2, st, 2)
        self.found.items.extend(found.items)
        body = self.segments[begin : self.at - 1]
        return _Pending(st, body, segment, envelope, list(found.items))


def read_transaction_sets(tokens: Tokens, *, strict: bool = True) -> list[TransactionSet]:
    """Every 835 transaction set in the file, envelope checked (see the module docstring)."""
    return _Reader(tokens, strict).read_file()


def _envelope(separators: Separators, isa: Segment, gs: Segment) -> Envelope:
    return Envelope(
        separators=separators,
        interchange_control=isa.get(13).strip(),
        sender_id=isa.get(6).strip(),
        receiver_id=isa.get(8).strip(),
        interchange_version=isa.get(12).strip(),
        usage=isa.get(15).strip(),
        functional_id=gs.get(1),
        application_sender=gs.get(2),
        application_receiver=gs.get(3),
        group_control=gs.get(6),
        group_version=gs.get(8),
        isa_segment=isa.number,
        gs_segment=gs.number,
    )


def _check_count(found: Issues, trailer: Segment, actual: int, what: str, whole: str) -> None:
    """Trailer element 01 must equal `actual`."""
    said = trailer.get(1).strip()
    if not said.isdigit():
        found.add(trailer.number, trailer.tag, BAD_COUNT, f"{trailer.name(1)} {said!r} is no count")
    elif int(said) != actual:
        found.add(
            trailer.number,
            trailer.tag,
            BAD_COUNT,
            f"{trailer.name(1)} says {int(said)} {what}, {whole} has {actual}",
        )


def _check_control(found: Issues, trailer: Segment, pos: int, header: Segment, hpos: int) -> None:
    """The trailer's control number must repeat the header's."""
    said, expected = trailer.get(pos).strip(), header.get(hpos).strip()
    if said != expected:
        found.add(
            trailer.number,
            trailer.tag,
            BAD_CONTROL_NUMBER,
            f"{trailer.name(pos)} is {said!r} but {header.name(hpos)} (segment {header.number}) "
            f"is {expected!r}",
        )


def _unexpected(segment: Segment, expected: str) -> RemittanceError:
    return RemittanceError.at(
        segment.number, segment.tag, MALFORMED, f"found {segment.tag} where {expected} belongs"
    )


def _missing_trailer(segment: Segment, trailer: str, opened: Segment) -> RemittanceError:
    return RemittanceError.at(
        segment.number,
        segment.tag,
        TRUNCATED,
        f"{trailer} missing: the {opened.tag} at segment {opened.number} is not closed before "
        f"this {segment.tag}",
    )
