//! PATCH paths: parsing must never panic or overflow the stack, and whatever parses (and
//! resolves) must print in a form that parses (and resolves) back to the same path.
//!
//! Run with `cargo +nightly fuzz run path` from the repository root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_core::filter::{MAX_FILTER_LEN, matches_value};
use scim_core::path::{parse_attr_path, parse_patch_path};
use scim_core::schema::{ResourceKind, registry};
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(path) = parse_attr_path(text) {
        assert_eq!(parse_attr_path(&path.to_string()).as_ref(), Ok(&path));
    }
    let Ok(path) = parse_patch_path(text) else {
        return;
    };
    let printed = path.to_string();
    if printed.len() <= MAX_FILTER_LEN {
        let again = parse_patch_path(&printed).expect("printed path parses");
        assert_eq!(again, path, "{printed}");
    }
    for kind in [ResourceKind::User, ResourceKind::Group] {
        let Ok(resolved) = path.resolve(kind) else {
            continue;
        };
        let printed = resolved.to_string();
        if printed.len() <= MAX_FILTER_LEN {
            let again = parse_patch_path(&printed)
                .and_then(|p| p.resolve(kind))
                .expect("printed resolved path resolves");
            assert_eq!(again, resolved, "{printed}");
        }
        if let Some(filter) = &resolved.filter {
            let parent = registry()
                .locate(kind, resolved.attr.urn.as_deref(), &resolved.attr.attr)
                .expect("resolved attribute exists")
                .def;
            let element = json!({ "value": "a@example.com", "type": "work", "primary": true });
            let _ = matches_value(filter, &element, parent);
        }
    }
});
