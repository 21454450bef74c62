-- Runs once, when the database volume is first initialised.
CREATE EXTENSION IF NOT EXISTS q3c;
