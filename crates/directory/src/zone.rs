//! An organisation's time zone (a setting, `UTC` until changed): the IANA name it is stored
//! by, and times shown and read in it. The tz database is compiled into the binary, so a name
//! means the same on every machine.

use time::OffsetDateTime;

/// The zone of an organisation that has not chosen one.
pub const DEFAULT: &str = "UTC";

/// Longest name accepted (the longest IANA name is about 30 characters).
const MAX_NAME: usize = 64;

/// A validated IANA time zone.
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    tz: jiff::tz::TimeZone,
}

impl Zone {
    pub fn utc() -> Zone {
        Zone {
            name: DEFAULT.to_owned(),
            tz: jiff::tz::TimeZone::UTC,
        }
    }

    /// The zone named `name` (`Europe/Paris`; case does not matter), or why not. The name kept
    /// is the database's own spelling.
    pub fn parse(name: &str) -> Result<Zone, String> {
        let name = name.trim();
        if name.is_empty() {
            return Err("give a time zone: an IANA name such as Europe/Paris, or UTC".into());
        }
        let shown: String = name.chars().take(MAX_NAME).collect();
        let plausible = name.len() <= MAX_NAME
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'));
        let refused = || {
            format!(
                "'{shown}' is not an IANA time zone name: give one such as Europe/Paris, \
                 America/New_York or UTC"
            )
        };
        if !plausible {
            return Err(refused());
        }
        let tz = jiff::tz::db().get(name).map_err(|_| refused())?;
        let name = tz.iana_name().unwrap_or(name).to_owned();
        Ok(Zone { name, tz })
    }

    /// The stored zone `name`, or UTC when the database no longer knows it.
    pub fn stored(name: &str) -> Zone {
        Zone::parse(name).unwrap_or_else(|_| Zone::utc())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn zoned(&self, at: OffsetDateTime) -> Option<jiff::Zoned> {
        let ts = jiff::Timestamp::from_nanosecond(at.unix_timestamp_nanos()).ok()?;
        Some(ts.to_zoned(self.tz.clone()))
    }

    /// `YYYY-MM-DD HH:MM ABBR` in this zone (`2026-12-03 08:40 CET`; the offset where the zone
    /// has no abbreviation).
    pub fn show(&self, at: OffsetDateTime) -> String {
        match self.zoned(at) {
            Some(z) => z.strftime("%Y-%m-%d %H:%M %Z").to_string(),
            None => at.to_string(),
        }
    }

    /// `YYYY-MM-DD HH:MM:SS ABBR` in this zone, for events seconds apart.
    pub fn show_seconds(&self, at: OffsetDateTime) -> String {
        match self.zoned(at) {
            Some(z) => z.strftime("%Y-%m-%d %H:%M:%S %Z").to_string(),
            None => at.to_string(),
        }
    }

    /// `YYYY-MM-DDTHH:MM` in this zone, for a `datetime-local` field.
    pub fn local_input(&self, at: OffsetDateTime) -> String {
        match self.zoned(at) {
            Some(z) => z.strftime("%Y-%m-%dT%H:%M").to_string(),
            None => String::new(),
        }
    }

    /// A `datetime-local` value (`YYYY-MM-DDTHH:MM`, seconds optional) read in this zone; a
    /// time the clocks skip or repeat is taken as the earlier reading.
    pub fn parse_local(&self, value: &str) -> Option<OffsetDateTime> {
        let civil: jiff::civil::DateTime = value.trim().parse().ok()?;
        let zoned = civil.to_zoned(self.tz.clone()).ok()?;
        OffsetDateTime::from_unix_timestamp_nanos(zoned.timestamp().as_nanosecond()).ok()
    }

    /// Every name the database knows, sorted (for a list to choose from).
    pub fn names() -> Vec<String> {
        let mut names: Vec<String> = jiff::tz::db().available().map(|n| n.to_string()).collect();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_and_spelt_as_the_database_does() {
        assert_eq!(
            Zone::parse("europe/paris").expect("zone").name(),
            "Europe/Paris"
        );
        assert_eq!(Zone::parse(" UTC ").expect("zone").name(), "UTC");
        for bad in [
            "",
            "Mars/Olympus",
            "Europe/Paris; DROP",
            "../etc/passwd",
            &"A".repeat(65),
        ] {
            let e = Zone::parse(bad).expect_err(bad);
            assert!(e.contains("time zone"), "{e}");
        }
    }

    #[test]
    fn times_are_shown_and_read_in_the_zone() {
        let at = OffsetDateTime::from_unix_timestamp(1_796_299_200).expect("time"); // 2026-12-03 12:00 UTC
        let paris = Zone::parse("Europe/Paris").expect("zone");
        assert_eq!(paris.show(at), "2026-12-03 13:00 CET");
        assert_eq!(Zone::utc().show(at), "2026-12-03 12:00 UTC");
        assert_eq!(paris.show_seconds(at), "2026-12-03 13:00:00 CET");
        assert_eq!(paris.local_input(at), "2026-12-03T13:00");
        assert_eq!(paris.parse_local("2026-12-03T13:00"), Some(at));
        assert_eq!(paris.parse_local("yesterday"), None);
    }
}
