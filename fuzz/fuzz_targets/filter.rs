//! Filters: parsing must never panic or overflow the stack, and whatever parses must print in
//! a canonical form that parses back to the same AST.
//!
//! Run with `cargo +nightly fuzz run filter` from the repository root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_core::filter::{MAX_FILTER_LEN, matches, parse_filter, parse_filter_raw};
use scim_core::schema::ResourceKind;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "userName": "bjensen",
        "active": true,
        "emails": [{ "value": "bjensen@example.com", "type": "work", "primary": true }],
        "meta": { "resourceType": "User", "created": "2010-01-23T04:56:22Z" }
    });
    let group = json!({
        "displayName": "Tour Guides",
        "members": [{ "value": "2819c223-7f76-453a-919d-413861904646", "type": "User" }]
    });

    if let Ok(raw) = parse_filter_raw(text) {
        let printed = raw.to_string();
        // The canonical form can be a few bytes longer than the input (quotes around bare
        // words), so only a form within the limit must read back.
        if printed.len() <= MAX_FILTER_LEN {
            let again = parse_filter_raw(&printed).expect("canonical raw form parses");
            assert_eq!(again, raw, "{printed}");
        }
    }
    for (kind, doc) in [(ResourceKind::User, &user), (ResourceKind::Group, &group)] {
        let Ok(filter) = parse_filter(text, kind) else {
            continue;
        };
        let printed = filter.to_string();
        if printed.len() <= MAX_FILTER_LEN {
            let again = parse_filter(&printed, kind).expect("canonical form parses");
            assert_eq!(again, filter, "{printed}");
        }
        let _ = matches(&filter, doc, kind);
    }
});
