"""The claim (CLP) and service line (SVC) loops: builders fed one segment at a time."""

from __future__ import annotations

from decimal import Decimal

from domain.remittances import segments as read
from domain.remittances.elements import Fields
from domain.remittances.parsed import (
    Adjustment,
    Claim,
    DateValue,
    MonetaryAmount,
    Name,
    Procedure,
    Quantity,
    RawSegment,
    Reference,
    Remark,
    ServiceLine,
)
from domain.remittances.x12 import Segment


class _Details:
    """The segments a claim and a line both carry: CAS, DTM, REF, AMT, QTY."""

    def __init__(self, fields: Fields) -> None:
        self.fields = fields
        self.adjustments: list[Adjustment] = []
        self.dates: list[DateValue] = []
        self.references: list[Reference] = []
        self.amounts: list[MonetaryAmount] = []
        self.quantities: list[Quantity] = []

    def add_detail(self, segment: Segment) -> bool:
        """Take a CAS/DTM/REF/AMT/QTY; False for any other segment."""
        tag, fields = segment.tag, self.fields
        if tag == "CAS":
            self.adjustments.extend(read.adjustments(fields, segment))
        elif tag == "DTM":
            self.dates.append(read.date_value(fields, segment))
        elif tag == "REF":
            self.references.append(read.reference(fields, segment))
        elif tag == "AMT":
            self.amounts.append(read.amount(fields, segment))
        elif tag == "QTY":
            qty = read.quantity(fields, segment)
            if qty is not None:
                self.quantities.append(qty)
        else:
            return False
        return True


class LineBuilder(_Details):
    """One SVC loop; `add` takes the line's DTM, CAS, REF, LQ, AMT, QTY."""

    def __init__(self, fields: Fields, svc: Segment) -> None:
        super().__init__(fields)
        self.svc = svc
        parts = fields.composite(svc, 1)
        if len(parts) < 2 or not parts[1]:
            fields.required_text(svc, 1)
        self.procedure = read.procedure(parts)
        self.charge = fields.required_cents(svc, 2)
        self.paid = fields.required_cents(svc, 3)
        self.units = fields.quantity(svc, 5)
        original = fields.composite(svc, 6)
        self.original: Procedure | None = read.procedure(original) if original else None
        self.original_units: Decimal | None = fields.quantity(svc, 7)
        self.remarks: list[Remark] = []

    def add(self, segment: Segment) -> bool:
        """Take a line-level segment; False when it does not belong to a line."""
        if segment.tag == "LQ":
            self.remarks.append(read.remark(self.fields, segment))
            return True
        return self.add_detail(segment)

    def build(self) -> ServiceLine:
        control = next((r.value for r in self.references if r.qualifier == "6R"), None)
        return ServiceLine(
            segment=self.svc.number,
            procedure=self.procedure,
            charge_cents=self.charge,
            paid_cents=self.paid,
            revenue_code=self.svc.get(4),
            units=self.units,
            original_procedure=self.original,
            original_units=self.original_units,
            dates=tuple(self.dates),
            adjustments=tuple(self.adjustments),
            control_number=control,
            references=tuple(self.references),
            remarks=tuple(self.remarks),
            amounts=tuple(self.amounts),
            quantities=tuple(self.quantities),
        )


class ClaimBuilder(_Details):
    """One CLP loop with its claim-level segments and its service lines."""

    def __init__(self, fields: Fields, clp: Segment, header_number: str | None) -> None:
        super().__init__(fields)
        self.clp = clp
        self.header_number = header_number
        self.claim_id = fields.required_text(clp, 1)
        self.status = fields.required_text(clp, 2)
        self.charge = fields.required_cents(clp, 3)
        self.paid = fields.required_cents(clp, 4)
        self.patient_share = fields.cents(clp, 5)
        self.names: list[Name] = []
        self.inpatient: RawSegment | None = None
        self.outpatient: RawSegment | None = None
        self.lines: list[ServiceLine] = []
        self.line: LineBuilder | None = None

    def add(self, segment: Segment) -> bool:
        """Take a segment of this claim or of its current line; False when it is neither's."""
        tag = segment.tag
        if tag == "SVC":
            self._close_line()
            self.line = LineBuilder(self.fields, segment)
            return True
        if self.line is not None and self.line.add(segment):
            return True
        if self.line is None and self.add_detail(segment):
            return True
        return self._add_claim_only(segment)

    def _add_claim_only(self, segment: Segment) -> bool:
        tag = segment.tag
        if tag == "NM1":
            self.names.append(read.name(segment))
        elif tag == "MIA":
            self.inpatient = read.raw(segment)
        elif tag == "MOA":
            self.outpatient = read.raw(segment)
        else:
            return False
        return True

    def _close_line(self) -> None:
        if self.line is not None:
            self.lines.append(self.line.build())
            self.line = None

    def build(self) -> Claim:
        self._close_line()
        clp = self.clp
        return Claim(
            segment=clp.number,
            patient_control_number=self.claim_id,
            status_code=self.status,
            charge_cents=self.charge,
            paid_cents=self.paid,
            patient_responsibility_cents=self.patient_share,
            filing_indicator=clp.get(6),
            payer_claim_control_number=clp.get(7),
            facility_code=clp.get(8),
            frequency_code=clp.get(9),
            elements=clp.elements,
            header_number=self.header_number,
            adjustments=tuple(self.adjustments),
            names=tuple(self.names),
            inpatient=self.inpatient,
            outpatient=self.outpatient,
            dates=tuple(self.dates),
            references=tuple(self.references),
            amounts=tuple(self.amounts),
            quantities=tuple(self.quantities),
            lines=tuple(self.lines),
        )
