//! SCIM resources: create, read, update, delete; unique names; versions.

use super::*;
use directory::store::{EventType, NewResource};

pub async fn resource_create_get_update_delete(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let created = create_user_with(
        &*store,
        org.id,
        json!({ "userName": "bjensen", "title": "Tour Guide", "externalId": "b1" }),
    )
    .await;
    assert_eq!(created.version, 1);
    assert_eq!(created.created, created.last_modified);
    let got = store
        .get_resource(org.id, USER, created.id, Load::default())
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got, created);
    assert_eq!(
        store
            .get_resource(org.id, GROUP, created.id, Load::default())
            .await
            .expect("get"),
        None,
        "kind is part of the key"
    );

    let doc = canonical(USER, &json!({ "userName": "bjensen", "title": "Manager" }));
    let later = created.created + Duration::seconds(3);
    let u = Update {
        expected_version: Some(1),
        doc: Some(doc.clone()),
        member_changes: Vec::new(),
        now: later,
    };
    let updated = store
        .update_resource(org.id, USER, created.id, u, Load::default())
        .await
        .expect("update");
    assert_eq!(
        (
            updated.version,
            &updated.doc,
            updated.created,
            updated.last_modified
        ),
        (2, &doc, created.created, later)
    );
    assert_eq!(
        store
            .get_resource(org.id, USER, created.id, Load::default())
            .await
            .expect("get"),
        Some(updated.clone())
    );

    // An update that changes nothing keeps the version.
    let same = store
        .update_resource(org.id, USER, created.id, update(2), Load::default())
        .await
        .expect("no-op");
    assert_eq!(same.version, 2);

    assert!(matches!(
        store
            .delete_resource(org.id, USER, created.id, Some(1))
            .await,
        Err(StoreError::VersionMismatch)
    ));
    assert!(matches!(
        store.delete_resource(org.id, GROUP, created.id, None).await,
        Err(StoreError::NotFound)
    ));
    store
        .delete_resource(org.id, USER, created.id, Some(2))
        .await
        .expect("delete");
    assert_eq!(
        store
            .get_resource(org.id, USER, created.id, Load::default())
            .await
            .expect("get"),
        None
    );
    assert!(matches!(
        store.delete_resource(org.id, USER, created.id, None).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .update_resource(org.id, USER, created.id, update(2), Load::default())
            .await,
        Err(StoreError::NotFound)
    ));
    // The name is free again.
    create_user(&*store, org.id, "BJensen").await;
}

pub async fn document_reads_back_in_written_key_order(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let body = json!({
        "userName": "ordered",
        ENTERPRISE_URN: { "manager": { "value": "m-1" }, "department": "Tour Operations", "employeeNumber": "701984" },
        "emails": [{ "primary": true, "type": "work", "value": "ordered@example.com" }, { "value": "o@home.example", "type": "home" }],
        "name": { "givenName": "Barbara", "familyName": "Jensen", "formatted": "Ms. Barbara J Jensen III" },
        "active": true,
        "externalId": "701984",
        "displayName": "Babs Jensen",
        "nickName": "Babs",
        "title": "Tour Guide",
        "addresses": [{ "type": "work", "streetAddress": "100 Universal City Plaza", "country": "USA", "primary": true }],
        "phoneNumbers": [{ "value": "555-555-5555", "type": "work" }]
    });
    let created = create_user_with(&*store, org.id, body).await;
    let got = store
        .get_resource(org.id, USER, created.id, Load::default())
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        serde_json::to_string(&got.doc).expect("json"),
        serde_json::to_string(&created.doc).expect("json")
    );
}

/// Creating a user named `name` in `org` is refused: the name is taken.
async fn assert_name_taken(store: &dyn Store, org: directory::OrgId, name: &str) {
    let dup = create_doc(store, org, USER, canonical(USER, &user_body(name)), &[]).await;
    assert!(
        matches!(dup, Err(StoreError::Conflict("userName"))),
        "{name}: {dup:?}"
    );
}

/// An update that changes `userName` or `externalId` moves the user in their indexes (found
/// by the new values, not the old; the old name free for another user), and one that changes
/// neither leaves it findable by both.
pub async fn updates_keep_name_and_external_id_lookups_current(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let u = create_user(&*store, org.id, "before@example.com").await;
    let found = |text: &'static str| {
        let store = store.clone();
        async move {
            let q = ListQuery {
                filter: Some(filter(USER, text)),
                ..query(10)
            };
            ids(&list(&*store, org.id, USER, &q).await)
        }
    };
    let mut doc = u.doc.clone();
    doc["userName"] = json!("After@example.com");
    doc["externalId"] = json!("ext-1");
    let up = Update {
        doc: Some(canonical(USER, &doc)),
        ..update(u.version)
    };
    let u2 = store
        .update_resource(org.id, USER, u.id, up, Load::default())
        .await
        .expect("rename");
    assert_eq!(
        found(r#"userName eq "after@example.com""#).await,
        vec![u.id]
    );
    assert_eq!(found(r#"externalId eq "ext-1""#).await, vec![u.id]);
    assert!(
        found(r#"userName eq "before@example.com""#)
            .await
            .is_empty()
    );
    create_user(&*store, org.id, "Before@example.com").await;

    let mut doc = u2.doc.clone();
    doc["displayName"] = json!("Same names");
    let up = Update {
        doc: Some(canonical(USER, &doc)),
        ..update(u2.version)
    };
    store
        .update_resource(org.id, USER, u.id, up, Load::default())
        .await
        .expect("update");
    assert_eq!(
        found(r#"userName eq "AFTER@example.com""#).await,
        vec![u.id]
    );
    assert_eq!(found(r#"externalId eq "ext-1""#).await, vec![u.id]);
    assert_name_taken(&*store, org.id, "after@EXAMPLE.com").await;
}

pub async fn user_name_is_unique_case_insensitively(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    create_user(&*store, org.id, "Alice").await;
    assert_name_taken(&*store, org.id, "aLICE").await;
    create_user(&*store, org.id, "ÄLICE").await;
    assert_name_taken(&*store, org.id, "älice").await;
    let dup = create_doc(
        &*store,
        org.id,
        USER,
        canonical(USER, &user_body("STRASSE")),
        &[],
    )
    .await;
    assert!(
        dup.is_ok(),
        "ß and SS are different names after lower-casing"
    );
    // Another organisation has its own names.
    create_user(&*store, other.id, "alice").await;
    // Renaming onto a taken name is refused too, and leaves the user as it was.
    let bob = create_user(&*store, org.id, "bob").await;
    let u = Update {
        expected_version: Some(1),
        doc: Some(canonical(USER, &user_body("ALICE"))),
        member_changes: Vec::new(),
        now: now(),
    };
    let r = store
        .update_resource(org.id, USER, bob.id, u, Load::default())
        .await;
    assert!(matches!(r, Err(StoreError::Conflict("userName"))), "{r:?}");
    assert_eq!(
        get(&*store, org.id, USER, bob.id)
            .await
            .expect("bob")
            .version,
        1
    );
    // Group names are not unique.
    create_group(&*store, org.id, "Staff", &[]).await;
    create_group(&*store, org.id, "staff", &[]).await;
}

pub async fn concurrent_creates_of_one_user_name_admit_exactly_one(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let store = store.clone();
        let name = if i % 2 == 0 {
            "race@example.com"
        } else {
            "RACE@example.com"
        };
        tasks.spawn(async move {
            create_doc(
                &*store,
                org.id,
                USER,
                canonical(USER, &user_body(name)),
                &[],
            )
            .await
        });
    }
    let (mut ok, mut conflicts) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        match r.expect("task") {
            Ok(_) => ok += 1,
            Err(StoreError::Conflict("userName")) => conflicts += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((ok, conflicts), (1, 15));
    assert_eq!(list(&*store, org.id, USER, &query(10)).await.total, 1);
}

pub async fn stale_or_missing_versions_are_refused(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let u = create_user(&*store, org.id, "versioned").await;
    let doc = canonical(USER, &json!({ "userName": "versioned", "title": "x" }));
    let first = Update {
        expected_version: Some(1),
        doc: Some(doc.clone()),
        member_changes: Vec::new(),
        now: now(),
    };
    store
        .update_resource(org.id, USER, u.id, first.clone(), Load::default())
        .await
        .expect("first writer");
    let r = store
        .update_resource(org.id, USER, u.id, first, Load::default())
        .await;
    assert!(matches!(r, Err(StoreError::VersionMismatch)), "{r:?}");
    let r = store
        .update_resource(org.id, USER, ResourceId::new(), update(1), Load::default())
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");

    // Concurrent writers from one version: exactly one wins.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = store.clone();
        let doc = canonical(
            USER,
            &json!({ "userName": "versioned", "title": format!("t{i}") }),
        );
        tasks.spawn(async move {
            let u2 = Update {
                expected_version: Some(2),
                doc: Some(doc),
                member_changes: Vec::new(),
                now: now(),
            };
            store
                .update_resource(org.id, USER, u.id, u2, Load::default())
                .await
        });
    }
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        match r.expect("task") {
            Ok(r) => {
                assert_eq!(r.version, 3);
                ok += 1;
            }
            Err(StoreError::VersionMismatch) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(ok, 1);
}

/// A bulk load's batch: every user created once with its event, in the batch's order (past a
/// thousand, where a store splits its statements); a name already taken, or taken by an
/// earlier user of the batch, refused for that user alone.
pub async fn bulk_creates_take_each_user_once_in_order_and_refuse_taken_names(
    store: Arc<dyn Store>,
) {
    let org = new_org(&*store).await;
    let taken = create_user(&*store, org.id, "taken@example.com").await;
    let new = |name: &str| NewResource {
        id: ResourceId::new(),
        doc: canonical(USER, &user_body(name)),
        now: now(),
        members: Vec::new(),
    };
    let mut users = vec![
        new("first@example.com"),
        new("TAKEN@example.com"),
        new("second@example.com"),
        new("First@Example.com"),
    ];
    users.extend((0..1200).map(|i| new(&format!("bulk.{i}@example.com"))));
    let ids: Vec<ResourceId> = users.iter().map(|u| u.id).collect();
    let outcomes = store.create_users(org.id, &users).await.expect("the batch");
    assert_eq!(outcomes.len(), ids.len());
    for (i, outcome) in outcomes.iter().enumerate() {
        match i {
            1 | 3 => assert!(
                matches!(outcome, Err(StoreError::Conflict("userName"))),
                "user {i}: {outcome:?}"
            ),
            _ => assert!(outcome.is_ok(), "user {i}: {outcome:?}"),
        }
    }
    let created: Vec<ResourceId> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1 && *i != 3)
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(
        list(&*store, org.id, USER, &query(10)).await.total,
        created.len() as u64 + 1
    );
    let bulk = get(&*store, org.id, USER, ids[1203])
        .await
        .expect("read back");
    assert_eq!(bulk.doc["userName"], json!("bulk.1199@example.com"));
    assert!(get(&*store, org.id, USER, ids[1]).await.is_none());
    // One `user.created` each, numbered on from the first user's, in the batch's order.
    let mut events = Vec::new();
    loop {
        let q = directory::store::EventQuery {
            after: events
                .last()
                .map_or(0, |e: &directory::store::Event| e.sequence),
            limit: 1000,
            types: Vec::new(),
        };
        let page = store.list_events(org.id, &q).await.expect("events");
        if page.is_empty() {
            break;
        }
        events.extend(page);
    }
    assert_eq!(events.len(), created.len() + 1);
    assert_eq!(events[0].data["id"], json!(taken.id.to_string()));
    for (n, (event, id)) in events[1..].iter().zip(&created).enumerate() {
        assert_eq!(event.kind, EventType::UserCreated);
        assert_eq!(event.sequence, n as i64 + 2);
        assert_eq!(event.data["id"], json!(id.to_string()), "event {n}");
    }
    // Nothing to do is done.
    let none = store.create_users(org.id, &[]).await.expect("empty");
    assert!(none.is_empty());
    // The same users again: all refused, nothing appended.
    let again = store
        .create_users(
            org.id,
            &[new("second@example.com"), new("bulk.7@example.com")],
        )
        .await
        .expect("again");
    assert!(
        again
            .iter()
            .all(|o| matches!(o, Err(StoreError::Conflict(_))))
    );
    let q = directory::store::EventQuery {
        after: events.len() as i64,
        limit: 10,
        types: Vec::new(),
    };
    assert!(
        store
            .list_events(org.id, &q)
            .await
            .expect("events")
            .is_empty()
    );
}
