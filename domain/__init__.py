"""The rules and the data model of arledger: the only place that changes balances."""
