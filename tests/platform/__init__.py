"""The platform itself: the committed schema, migrations, logs and the import graph."""
