//! What applications see (docs/contract.md, "Applications"): the user and group objects of the
//! directory API and of event payloads, and which event a change appends. Both stores build
//! their events here, from the rows before and after a write, inside the write's transaction.

use crate::model::{Account, EventType, NewEvent, Source, StoredResource};
use crate::render::timestamp;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

/// The enterprise extension, whose attributes an application sees beside the core ones.
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Core attributes the user object carries as fields of its own.
const USER_FIELDS: [&str; 7] = [
    "userName",
    "displayName",
    "name",
    "externalId",
    "emails",
    "active",
    "schemas",
];

/// The user object: imported attributes with the organisation's local properties merged over
/// them, and the groups the user is a direct member of. `updated` is when the object last
/// changed (a local property or the source moves it too, not only the SCIM document).
pub fn user_object(a: &Account, groups: &[String], updated: Option<OffsetDateTime>) -> Value {
    let doc = &a.resource.doc;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let name = doc.get("name");
    let emails: Vec<Value> = doc
        .get("emails")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|e| {
                    json!({
                        "value": e.get("value").cloned().unwrap_or(Value::Null),
                        "type": e.get("type").cloned().unwrap_or(Value::Null),
                        "primary": e.get("primary").and_then(Value::as_bool).unwrap_or(false),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let mut attributes = Map::new();
    if let Some(obj) = doc.as_object() {
        for (k, v) in obj {
            if USER_FIELDS.contains(&k.as_str()) {
                continue;
            }
            if k == ENTERPRISE {
                for (ek, ev) in v.as_object().into_iter().flatten() {
                    let ev = if ek == "manager" {
                        ev.get("value").cloned().unwrap_or(Value::Null)
                    } else {
                        ev.clone()
                    };
                    attributes.insert(ek.clone(), ev);
                }
            } else if !k.starts_with("urn:") {
                attributes.insert(k.clone(), v.clone());
            }
        }
    }
    let active = crate::model::columns::active(doc);
    let state = if a.deleted.is_some() {
        "deleted"
    } else if active {
        "active"
    } else {
        "deactivated"
    };
    json!({
        "id": a.resource.id.to_string(),
        "user_name": text(doc.get("userName")),
        "display_name": text(doc.get("displayName")),
        "given_name": text(name.and_then(|n| n.get("givenName"))),
        "family_name": text(name.and_then(|n| n.get("familyName"))),
        "external_id": text(doc.get("externalId")),
        "emails": emails,
        "active": active && a.deleted.is_none(),
        "state": state,
        "source": a.source.as_str(),
        "roles": a.local.roles,
        "locations": a.local.locations,
        "grade_level": a.local.grade_level,
        "sis_username": a.local.sis_username,
        "groups": groups,
        "attributes": attributes,
        "created_at": timestamp(a.resource.created),
        "updated_at": timestamp(updated.unwrap_or(a.resource.last_modified).max(a.resource.last_modified)),
    })
}

/// The group object (members are paged separately).
pub fn group_object(
    g: &StoredResource, source: Source, member_count: u64, updated: Option<OffsetDateTime>,
) -> Value {
    let text = |k: &str| g.doc.get(k).and_then(Value::as_str).map(str::to_owned);
    json!({
        "id": g.id.to_string(),
        "display_name": text("displayName"),
        "external_id": text("externalId"),
        "source": source.as_str(),
        "member_count": member_count,
        "created_at": timestamp(g.created),
        "updated_at": timestamp(updated.unwrap_or(g.last_modified).max(g.last_modified)),
    })
}

/// Whether two objects differ in anything but the fields named (`updated_at` always, which
/// moves with every write, and what the member events report).
fn differs(before: &Value, after: &Value, ignored: &[&str]) -> bool {
    let (Some(b), Some(a)) = (before.as_object(), after.as_object()) else {
        return before != after;
    };
    let keys = b.keys().chain(a.keys());
    keys.filter(|k| *k != "updated_at" && !ignored.contains(&k.as_str()))
        .any(|k| b.get(k) != a.get(k))
}

/// The event a change of a user appends, if any: created, deleted, deactivated or reactivated
/// when `active` flipped, updated when any other field but `groups` changed.
pub fn user_change(before: Option<&Value>, after: Option<Value>) -> Option<NewEvent> {
    let kind = match (before, &after) {
        (None, None) => return None,
        (None, Some(_)) => EventType::UserCreated,
        // A row that went is reported by [`user_deleted`], which has what was last seen.
        (Some(_), None) => return None,
        (Some(b), Some(a)) => {
            if a["state"] == "deleted" && b["state"] != "deleted" {
                EventType::UserDeleted
            } else if b["active"] != a["active"] {
                if a["active"] == true {
                    EventType::UserReactivated
                } else {
                    EventType::UserDeactivated
                }
            } else if differs(b, a, &["groups"]) {
                EventType::UserUpdated
            } else {
                return None;
            }
        }
    };
    after.map(|data| NewEvent { kind, data })
}

/// `user.deleted` for a user whose row went (a purge): the user as last seen.
pub fn user_deleted(mut last_seen: Value) -> NewEvent {
    last_seen["state"] = json!("deleted");
    last_seen["active"] = json!(false);
    last_seen["groups"] = json!([]);
    NewEvent {
        kind: EventType::UserDeleted,
        data: last_seen,
    }
}

/// The event a change of a group's own fields appends, if any (`member_count` moves with the
/// member events, which report it).
pub fn group_change(before: Option<&Value>, after: Option<Value>) -> Option<NewEvent> {
    let kind = match (before, &after) {
        (None, None) => return None,
        (None, Some(_)) => EventType::GroupCreated,
        (Some(_), None) => return None,
        (Some(b), Some(a)) if differs(b, a, &["member_count"]) => EventType::GroupUpdated,
        _ => return None,
    };
    after.map(|data| NewEvent { kind, data })
}

/// `group.deleted`, with the group as last seen.
pub fn group_deleted(last_seen: Value) -> NewEvent {
    NewEvent {
        kind: EventType::GroupDeleted,
        data: last_seen,
    }
}

/// `group.member_added` / `group.member_removed`: the group after the change and the member,
/// a user or (`nested`) a group.
pub fn member_change(added: bool, group: &Value, member: Value, nested: bool) -> NewEvent {
    let kind = if added {
        EventType::GroupMemberAdded
    } else {
        EventType::GroupMemberRemoved
    };
    let key = if nested { "member_group" } else { "user" };
    NewEvent {
        kind,
        data: json!({ "group": group, key: member }),
    }
}

/// `connection.activated` / `connection.disconnected`.
pub fn connection_change(activated: bool) -> NewEvent {
    let (kind, state) = if activated {
        (EventType::ConnectionActivated, "active")
    } else {
        (EventType::ConnectionDisconnected, "disconnected")
    };
    NewEvent {
        kind,
        data: json!({ "state": state }),
    }
}

/// The event a connection moving from `was` to `now` appends, if any.
pub fn connection_event(
    was: Option<crate::model::ConnectionState>, now: crate::model::ConnectionState,
) -> Option<NewEvent> {
    use crate::model::ConnectionState::{Active, Disconnected};
    match now {
        Active if was != Some(Active) => Some(connection_change(true)),
        Disconnected if was != Some(Disconnected) => Some(connection_change(false)),
        _ => None,
    }
}

/// The event a notice appends when it is enqueued: the token thresholds of the notices
/// (docs/contract.md, "Notifications"), nothing for the others.
pub fn notice_event(
    kind: crate::model::NoticeKind, token: crate::ids::TokenId, expires: OffsetDateTime,
) -> Option<NewEvent> {
    use crate::model::NoticeKind;
    match kind {
        NoticeKind::ExpiryReminder => Some(token_notice(false, token, expires)),
        NoticeKind::TokenExpired => Some(token_notice(true, token, expires)),
        NoticeKind::SetupComplete | NoticeKind::WebhookFailing => None,
    }
}

/// `token.expiring` / `token.expired`, for the notice thresholds.
pub fn token_notice(
    expired: bool, token: crate::ids::TokenId, expires: OffsetDateTime,
) -> NewEvent {
    let kind = if expired {
        EventType::TokenExpired
    } else {
        EventType::TokenExpiring
    };
    NewEvent {
        kind,
        data: json!({ "token_id": token.to_string(), "expires_at": timestamp(expires) }),
    }
}
