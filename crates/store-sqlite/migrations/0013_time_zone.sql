-- An organisation's time zone, an IANA name, for the times its console shows.
ALTER TABLE organisations ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
