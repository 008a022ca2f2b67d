"""FHIR R5 read-only export beside GraphQL: `Account` resources with aged balances."""
