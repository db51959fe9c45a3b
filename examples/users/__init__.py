"""User CRUD on Gati, backed by a SQL database module."""
