"""The committed SDL, schema.graphql, is what the code serves."""

from pathlib import Path

from strawberry.printer import print_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_schema_file_matches_the_code() -> None:
    from api.schema import schema

    # given the schema as `arledger export-schema` prints it
    expected = print_schema(schema) + "\n"
    # then schema.graphql holds exactly that
    assert SCHEMA_FILE.exists(), "schema.graphql is missing: run `make schema`"
    actual = SCHEMA_FILE.read_text()
    assert actual == expected, "schema.graphql is stale: run `make schema` and commit it"
