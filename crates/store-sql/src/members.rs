//! Member changes both stores apply alike.

use directory::ResourceId;
use directory::store::{MemberView, StoredResource};
use scim_core::filter::Filter;
use scim_core::schema::{ResourceKind, registry};
use time::OffsetDateTime;

/// A group with nothing loaded but its id, for loading its members alone.
pub fn group_stub(id: ResourceId) -> StoredResource {
    StoredResource {
        id,
        kind: ResourceKind::Group,
        doc: serde_json::Value::Null,
        version: 0,
        created: OffsetDateTime::UNIX_EPOCH,
        last_modified: OffsetDateTime::UNIX_EPOCH,
        members: None,
        groups: None,
    }
}

/// The ids of the members that a removal by value filter (`members[type eq "Group"]`)
/// removes. Evaluated in memory on the members as rendered, exactly as PATCH evaluates value
/// filters elsewhere: a group's members are few compared with a round trip per lowered
/// sub-filter.
pub fn matching_members(filter: &Filter, members: Vec<MemberView>) -> Vec<String> {
    let Some(def) = registry().group.attribute("members") else {
        return Vec::new();
    };
    members
        .into_iter()
        .filter(|m| {
            let mut element =
                serde_json::json!({ "value": m.id.to_string(), "type": m.kind.name() });
            if let Some(d) = &m.display {
                element["display"] = serde_json::Value::String(d.clone());
            }
            scim_core::filter::matches_value(filter, &element, def)
        })
        .map(|m| m.id.to_string())
        .collect()
}
