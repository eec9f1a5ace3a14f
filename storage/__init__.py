"""Tables, queries and migrations; returns domain objects, never rows."""
