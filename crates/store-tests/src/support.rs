//! Helpers shared by the cases: organisations, canonical documents, resources.

use directory::store::{ListQuery, Load, NewResource, Page, StoredResource};
use directory::{OrgId, OrgKind, Organisation, ResourceId, Store, StoreError};
use scim_core::patch::MemberRef;
use scim_core::schema::ResourceKind;
use serde_json::{Value, json};
use time::OffsetDateTime;

/// Now, to the microsecond: what stores keep.
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    let nanos = t.unix_timestamp_nanos();
    OffsetDateTime::from_unix_timestamp_nanos(nanos - nanos.rem_euclid(1000)).unwrap_or(t)
}

/// A new organisation, stored.
pub async fn new_org(store: &dyn Store) -> Organisation {
    let org = Organisation {
        id: OrgId::new(),
        name: format!("org {}", uuid::Uuid::new_v4()),
        kind: OrgKind::Business,
        created: now(),
    };
    store.create_org(&org).await.expect("create org");
    org
}

/// The canonical document of a client body, as services store it.
pub fn canonical(kind: ResourceKind, body: &Value) -> Value {
    scim_core::resource::normalize(kind, body)
        .expect("valid body")
        .doc
}

pub fn user_body(user_name: &str) -> Value {
    json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name })
}

pub async fn create_doc(
    store: &dyn Store, org: OrgId, kind: ResourceKind, doc: Value, members: &[ResourceId],
) -> Result<StoredResource, StoreError> {
    let new = NewResource {
        id: ResourceId::new(),
        doc,
        now: now(),
        members: members.iter().map(member_ref).collect(),
    };
    store.create_resource(org, kind, new).await
}

pub async fn create_user(store: &dyn Store, org: OrgId, user_name: &str) -> StoredResource {
    create_doc(
        store,
        org,
        ResourceKind::User,
        canonical(ResourceKind::User, &user_body(user_name)),
        &[],
    )
    .await
    .expect("create user")
}

pub async fn create_user_with(store: &dyn Store, org: OrgId, body: Value) -> StoredResource {
    create_doc(
        store,
        org,
        ResourceKind::User,
        canonical(ResourceKind::User, &body),
        &[],
    )
    .await
    .expect("create user")
}

pub fn group_body(name: &str) -> Value {
    json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name })
}

pub async fn create_group(
    store: &dyn Store, org: OrgId, name: &str, members: &[ResourceId],
) -> StoredResource {
    create_doc(
        store,
        org,
        ResourceKind::Group,
        canonical(ResourceKind::Group, &group_body(name)),
        members,
    )
    .await
    .expect("create group")
}

pub fn member_ref(id: &ResourceId) -> MemberRef {
    MemberRef {
        value: id.to_string(),
        member_type: None,
    }
}

pub async fn get(
    store: &dyn Store, org: OrgId, kind: ResourceKind, id: ResourceId,
) -> Option<StoredResource> {
    store
        .get_resource(org, kind, id, Load { relations: true })
        .await
        .expect("get")
}

/// Member ids of a group, sorted.
pub async fn member_ids(store: &dyn Store, org: OrgId, group: ResourceId) -> Vec<ResourceId> {
    let g = get(store, org, ResourceKind::Group, group)
        .await
        .expect("group exists");
    let mut ids: Vec<ResourceId> = g
        .members
        .expect("members loaded")
        .iter()
        .map(|m| m.id)
        .collect();
    ids.sort();
    ids
}

pub fn query(count: u64) -> ListQuery {
    ListQuery {
        filter: None,
        sort: None,
        start_index: 1,
        count,
        cursor: None,
        load: Load::default(),
    }
}

pub async fn list(store: &dyn Store, org: OrgId, kind: ResourceKind, q: &ListQuery) -> Page {
    store.list_resources(org, kind, q).await.expect("list")
}

pub fn ids(page: &Page) -> Vec<ResourceId> {
    page.resources.iter().map(|r| r.id).collect()
}

/// A filter as a service passes it to a store: parsed and resolved for `kind`.
pub fn filter(kind: ResourceKind, text: &str) -> scim_core::filter::Filter {
    scim_core::filter::parse_filter(text, kind).expect("valid filter")
}

/// Follows cursors from the first page to the last and returns every id seen, in order.
pub async fn walk_cursor(
    store: &dyn Store, org: OrgId, kind: ResourceKind, mut q: ListQuery,
) -> Vec<ResourceId> {
    let mut seen = Vec::new();
    q.cursor = Some(String::new());
    for _ in 0..10_000 {
        let page = list(store, org, kind, &q).await;
        assert!(
            page.resources.len() as u64 <= q.count,
            "a page is never longer than asked"
        );
        seen.extend(ids(&page));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return seen,
        }
    }
    panic!("cursor paging does not end");
}
