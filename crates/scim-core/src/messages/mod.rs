//! Protocol messages: query and SearchRequest parameters (RFC 7644 sections 3.4.2 and 3.4.3,
//! RFC 9865 section 2), the ListResponse (RFC 7644 section 3.4.2, RFC 9865 section 2.2) and the
//! BulkRequest / BulkResponse pair with `bulkId` references (RFC 7644 section 3.7).
//!
//! Parsing is tolerant where identity providers are known to deviate (parameter and key names
//! in any case, unknown parameters such as Entra's `aadOptscim062020` ignored) and strict
//! where a guess could return the wrong data (a non-numeric `count`, a malformed cursor).
//!
//! `list` holds the query side, `bulk` the bulk side; both read integers with the rules of
//! `Int`.

use serde_json::Value;

mod bulk;
mod list;

pub use bulk::{
    BULK_REQUEST_URN, BULK_RESPONSE_URN, BulkMethod, BulkOpResult, BulkOperation, BulkRequest,
    bulk_id_refs, bulk_response, parse_bulk, replace_bulk_ids,
};
pub use list::{LIST_RESPONSE_URN, ListParams, SEARCH_REQUEST_URN, SortOrder, list_response};

/// An integer parameter as sent: its sign and magnitude, saturated so that absurdly large
/// values still mean "as many as you allow" rather than an error.
#[derive(Debug, Clone, Copy)]
struct Int {
    negative: bool,
    magnitude: u64,
}

impl Int {
    fn parse(text: &str) -> Option<Int> {
        let text = text.trim();
        let (negative, digits) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let magnitude = digits.parse::<u64>().unwrap_or(u64::MAX);
        Some(Int {
            negative,
            magnitude,
        })
    }

    fn from_json(value: &Value) -> Option<Int> {
        match value {
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    Some(Int {
                        negative: false,
                        magnitude: u,
                    })
                } else if let Some(i) = n.as_i64() {
                    Some(Int {
                        negative: i < 0,
                        magnitude: i.unsigned_abs(),
                    })
                } else {
                    // A float is accepted only when it is integral (`10.0`); serialisers in
                    // some client languages emit every number that way.
                    let f = n.as_f64()?;
                    (f.fract() == 0.0 && f.is_finite()).then(|| Int {
                        negative: f < 0.0,
                        // Saturating float-to-int conversion is the intent here.
                        magnitude: f.abs() as u64,
                    })
                }
            }
            Value::String(s) => Int::parse(s),
            _ => None,
        }
    }

    /// `startIndex` (RFC 7644 section 3.4.2.4): "A value less than 1 SHALL be interpreted as 1."
    fn as_start_index(self) -> u64 {
        if self.negative {
            1
        } else {
            self.magnitude.max(1)
        }
    }

    /// `count` (RFC 7644 section 3.4.2.4): "A negative value SHALL be interpreted as 0."
    fn as_count(self) -> u64 {
        if self.negative { 0 } else { self.magnitude }
    }
}
