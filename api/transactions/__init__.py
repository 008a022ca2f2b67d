"""Practice-management transactions, transaction codes and payers: types, queries, mutations."""
