"""Remittances: reading X12 835 (ERA) files into typed, balanced-checked remittance models.

`parser.parse_835` turns a file into one `parsed.Remittance` per ST/SE transaction set,
`balance.check_remittance` lists every place the payer's numbers do not add up, `codes` names
CARC / group / CLP02 / PLB codes, `validate` runs the optional pyx12 TR3 validation and
`generate` writes 835s for tests and benchmarks.
"""
