//! The event log: which event each write appends, in the write's transaction, numbered per
//! organisation without gaps; and the directory objects applications read.

use super::*;
use directory::store::{
    AccountChange, DirectoryQuery, Event, EventQuery, EventType, LocalProps, NewResource, Source,
};

async fn all_events(store: &dyn Store, org: OrgId) -> Vec<Event> {
    store
        .list_events(
            org,
            &EventQuery {
                after: 0,
                limit: 1000,
                types: Vec::new(),
            },
        )
        .await
        .expect("list events")
}

/// The events after `after`, as their type names.
pub(crate) async fn kinds_after(store: &dyn Store, org: OrgId, after: i64) -> Vec<&'static str> {
    let q = EventQuery {
        after,
        limit: 1000,
        types: Vec::new(),
    };
    let events = store.list_events(org, &q).await.expect("list events");
    events.iter().map(|e| e.kind.as_str()).collect()
}

fn assert_gapless(events: &[Event]) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e.sequence,
            i as i64 + 1,
            "sequences start at 1 and step by 1"
        );
    }
}

fn doc_update(expected: i64, doc: serde_json::Value) -> Update {
    Update {
        expected_version: Some(expected),
        doc: Some(doc),
        member_changes: Vec::new(),
        now: now(),
    }
}

pub async fn user_writes_append_one_event_each_with_the_whole_user(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_URN],
        "userName": "ada@example.com",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
        "title": "Engineer",
        ENTERPRISE_URN: {"department": "R&D", "manager": {"value": "boss-1"}}
    });
    let u = create_user_with(&*store, org.id, body.clone()).await;
    let events = all_events(&*store, org.id).await;
    assert_eq!(events.len(), 1);
    let created = &events[0];
    assert_eq!(
        (created.kind, created.sequence, created.org),
        (EventType::UserCreated, 1, org.id)
    );
    let d = &created.data;
    assert_eq!(d["id"], json!(u.id.to_string()));
    assert_eq!(d["user_name"], json!("ada@example.com"));
    assert_eq!(d["given_name"], json!("Ada"));
    assert_eq!(d["family_name"], json!("Lovelace"));
    assert_eq!(d["display_name"], json!(null));
    assert_eq!(d["state"], json!("active"));
    assert_eq!(d["source"], json!("scim"));
    assert_eq!(d["roles"], json!([]));
    assert_eq!(d["groups"], json!([]));
    assert_eq!(
        d["emails"],
        json!([{"value": "ada@example.com", "type": "work", "primary": true}])
    );
    assert_eq!(d["attributes"]["title"], json!("Engineer"));
    assert_eq!(d["attributes"]["department"], json!("R&D"));
    assert_eq!(d["attributes"]["manager"], json!("boss-1"));
    assert_eq!(
        store
            .find_event(org.id, created.id)
            .await
            .expect("find")
            .as_ref(),
        Some(created)
    );

    // A change of the document: updated. The same document again: nothing.
    let mut renamed = body.clone();
    renamed["displayName"] = json!("Ada L.");
    let doc = canonical(USER, &renamed);
    let r = store
        .update_resource(
            org.id,
            USER,
            u.id,
            doc_update(1, doc.clone()),
            Load::default(),
        )
        .await
        .expect("rename");
    assert_eq!(kinds_after(&*store, org.id, 1).await, ["user.updated"]);
    store
        .update_resource(
            org.id,
            USER,
            u.id,
            doc_update(r.version, doc),
            Load::default(),
        )
        .await
        .expect("same again");
    assert_eq!(
        kinds_after(&*store, org.id, 1).await.len(),
        1,
        "no change, no event"
    );

    // `active` flips: deactivated, then reactivated, each with the whole object.
    let mut off = renamed.clone();
    off["active"] = json!(false);
    let r = store
        .update_resource(
            org.id,
            USER,
            u.id,
            doc_update(r.version + 1, canonical(USER, &off)),
            Load::default(),
        )
        .await
        .expect("deactivate");
    let r = store
        .update_resource(
            org.id,
            USER,
            u.id,
            doc_update(r.version, canonical(USER, &renamed)),
            Load::default(),
        )
        .await
        .expect("reactivate");
    let events = all_events(&*store, org.id).await;
    let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "user.created",
            "user.updated",
            "user.deactivated",
            "user.reactivated"
        ]
    );
    assert_eq!(events[2].data["state"], json!("deactivated"));
    assert_eq!(events[2].data["active"], json!(false));
    assert_eq!(events[2].data["display_name"], json!("Ada L."));

    // Local properties: updated, with the roles merged in; the SCIM version does not move.
    let local = LocalProps {
        roles: vec!["teacher".into()],
        locations: vec!["Main campus".into()],
        ..LocalProps::default()
    };
    store
        .update_account(
            org.id,
            u.id,
            AccountChange {
                expected_version: None,
                doc: None,
                source: None,
                local: Some(local),
                now: Some(now()),
            },
        )
        .await
        .expect("local properties");
    let events = all_events(&*store, org.id).await;
    let last = events.last().expect("event");
    assert_eq!(last.kind, EventType::UserUpdated);
    assert_eq!(last.data["roles"], json!(["teacher"]));
    assert_eq!(last.data["locations"], json!(["Main campus"]));

    // SCIM DELETE: user.deleted, the user as last seen with state deleted.
    store
        .retire_account(
            org.id,
            u.id,
            Some(r.version),
            now(),
            now() + Duration::days(30),
        )
        .await
        .expect("retire");
    let events = all_events(&*store, org.id).await;
    let last = events.last().expect("event");
    assert_eq!(last.kind, EventType::UserDeleted);
    assert_eq!(last.data["state"], json!("deleted"));
    assert_eq!(last.data["user_name"], json!("ada@example.com"));
    assert_gapless(&events);
    assert_eq!(
        store.last_event_sequence(org.id).await.expect("last"),
        events.len() as i64
    );
}

pub async fn member_changes_append_member_events_only(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let u1 = create_user(&*store, org.id, "m1").await;
    let u2 = create_user(&*store, org.id, "m2").await;
    let sub = create_group(&*store, org.id, "Sub", &[]).await;
    let base = store.last_event_sequence(org.id).await.expect("last");
    assert_eq!(base, 3);

    let g = create_group(&*store, org.id, "Team", &[u1.id]).await;
    let after_create = all_events(&*store, org.id).await;
    let kinds: Vec<_> = after_create[3..].iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["group.created", "group.member_added"]);
    let added = &after_create[4].data;
    assert_eq!(added["group"]["id"], json!(g.id.to_string()));
    assert_eq!(added["group"]["member_count"], json!(1));
    assert_eq!(added["user"]["id"], json!(u1.id.to_string()));
    assert_eq!(added["user"]["groups"], json!([g.id.to_string()]));

    let members = |c: Vec<MemberChange>| Update {
        expected_version: None,
        doc: None,
        member_changes: c,
        now: now(),
    };
    let mark = store.last_event_sequence(org.id).await.expect("last");
    store
        .update_resource(
            org.id,
            GROUP,
            g.id,
            members(vec![MemberChange::Add(vec![
                member_ref(&u2.id),
                member_ref(&u1.id),
                member_ref(&sub.id),
            ])]),
            Load::default(),
        )
        .await
        .expect("add");
    let events = store
        .list_events(
            org.id,
            &EventQuery {
                after: mark,
                limit: 100,
                types: Vec::new(),
            },
        )
        .await
        .expect("list");
    let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["group.member_added", "group.member_added"],
        "one per member actually added; no user.updated or group.updated besides"
    );
    assert!(events[1].data.get("member_group").is_some(), "nested group");
    assert_eq!(
        events[1].data["member_group"]["id"],
        json!(sub.id.to_string())
    );
    assert_eq!(events[1].data["group"]["member_count"], json!(3));

    let mark = store.last_event_sequence(org.id).await.expect("last");
    store
        .update_resource(
            org.id,
            GROUP,
            g.id,
            members(vec![MemberChange::ReplaceAll(vec![
                member_ref(&u1.id),
                member_ref(&u2.id),
            ])]),
            Load::default(),
        )
        .await
        .expect("replace");
    assert_eq!(
        kinds_after(&*store, org.id, mark).await,
        ["group.member_removed"],
        "a replacement reports only the members it changed"
    );

    // Added and removed again by one write: no change, no event.
    let mark = store.last_event_sequence(org.id).await.expect("last");
    let u3 = create_user(&*store, org.id, "m3").await;
    store
        .update_resource(
            org.id,
            GROUP,
            g.id,
            members(vec![
                MemberChange::Add(vec![member_ref(&u3.id)]),
                MemberChange::Remove(vec![u3.id.to_string()]),
            ]),
            Load::default(),
        )
        .await
        .expect("add and remove");
    assert_eq!(kinds_after(&*store, org.id, mark).await, ["user.created"]);

    let mark = store.last_event_sequence(org.id).await.expect("last");
    let current = get(&*store, org.id, GROUP, g.id).await.expect("group");
    store
        .update_resource(
            org.id,
            GROUP,
            g.id,
            doc_update(current.version, canonical(GROUP, &group_body("Team A"))),
            Load::default(),
        )
        .await
        .expect("rename");
    assert_eq!(kinds_after(&*store, org.id, mark).await, ["group.updated"]);

    // Deleting a user or a group: only its own `*.deleted`.
    let mark = store.last_event_sequence(org.id).await.expect("last");
    store
        .delete_resource(org.id, GROUP, g.id, None)
        .await
        .expect("delete group");
    let events = all_events(&*store, org.id).await;
    assert_eq!(kinds_after(&*store, org.id, mark).await, ["group.deleted"]);
    assert_eq!(
        events.last().expect("event").data["display_name"],
        json!("Team A")
    );
    assert_gapless(&events);
}

pub async fn refused_writes_append_no_event(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let u = create_user(&*store, org.id, "taken").await;
    let dup = create_doc(
        &*store,
        org.id,
        USER,
        canonical(USER, &user_body("TAKEN")),
        &[],
    )
    .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));
    let stale = store
        .update_resource(
            org.id,
            USER,
            u.id,
            doc_update(7, canonical(USER, &user_body("other"))),
            Load::default(),
        )
        .await;
    assert!(matches!(stale, Err(StoreError::VersionMismatch)));
    let g = create_group(&*store, org.id, "G", &[]).await;
    let unknown = store
        .update_resource(
            org.id,
            GROUP,
            g.id,
            Update {
                expected_version: None,
                doc: None,
                member_changes: vec![MemberChange::Add(vec![
                    member_ref(&u.id),
                    member_ref(&ResourceId::new()),
                ])],
                now: now(),
            },
            Load::default(),
        )
        .await;
    assert!(matches!(unknown, Err(StoreError::UnknownMember(_))));
    let kinds = kinds_after(&*store, org.id, 0).await;
    assert_eq!(kinds, ["user.created", "group.created"]);
}

pub async fn events_are_numbered_per_organisation_and_never_cross(store: Arc<dyn Store>) {
    let a = new_org(&*store).await;
    let b = new_org(&*store).await;
    for i in 0..3 {
        create_user(&*store, a.id, &format!("a{i}")).await;
        create_user(&*store, b.id, &format!("b{i}")).await;
    }
    let ea = all_events(&*store, a.id).await;
    let eb = all_events(&*store, b.id).await;
    assert_gapless(&ea);
    assert_gapless(&eb);
    assert!(ea.iter().all(|e| {
        e.org == a.id
            && e.data["user_name"]
                .as_str()
                .is_some_and(|n| n.starts_with('a'))
    }));
    assert_eq!(store.find_event(a.id, eb[0].id).await.expect("find"), None);
    assert_eq!(
        store
            .last_event_sequence(new_org(&*store).await.id)
            .await
            .expect("last"),
        0
    );
}

pub async fn connection_and_token_notices_append_their_events(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let set = |state| Connection {
        state,
        changed: now(),
    };
    for state in [
        ConnectionState::Pending,
        ConnectionState::Active,
        ConnectionState::Active,
        ConnectionState::Disconnected,
        ConnectionState::Disconnected,
    ] {
        store
            .set_connection(org.id, &set(state))
            .await
            .expect("set");
    }
    assert_eq!(
        kinds_after(&*store, org.id, 0).await,
        ["connection.activated", "connection.disconnected"]
    );

    let t = token(org.id, 9);
    store.insert_token(&t).await.expect("token");
    let notice = |key: &str, kind| Notice {
        id: NoticeId::new(),
        org_id: org.id,
        key: key.to_owned(),
        kind,
        token_id: Some(t.id),
        threshold_days: Some(60),
        subject: "s".into(),
        body: "b".into(),
        created: now(),
        attempts: 0,
        next_attempt: now() + Duration::hours(1),
        sent: None,
        last_error: None,
    };
    store
        .enqueue_notice(&notice("r:60", NoticeKind::ExpiryReminder))
        .await
        .expect("reminder");
    store
        .enqueue_notice(&notice("r:60", NoticeKind::ExpiryReminder))
        .await
        .expect("reminder again");
    store
        .enqueue_notice(&notice("expired", NoticeKind::TokenExpired))
        .await
        .expect("expired");
    let events = all_events(&*store, org.id).await;
    let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "connection.activated",
            "connection.disconnected",
            "token.expiring",
            "token.expired"
        ]
    );
    assert_eq!(events[2].data["token_id"], json!(t.id.to_string()));
    assert_eq!(
        events[2].data["expires_at"],
        json!(directory::render::timestamp(t.expires))
    );
    assert_eq!(events[1].data, json!({"state": "disconnected"}));
}

pub async fn disconnect_reports_every_released_user_and_group(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let u = create_user(&*store, org.id, "released").await;
    let g = create_group(&*store, org.id, "Released", &[u.id]).await;
    let mark = store.last_event_sequence(org.id).await.expect("last");
    assert_eq!(store.release_sync(org.id).await.expect("release"), 2);
    let events = store
        .list_events(
            org.id,
            &EventQuery {
                after: mark,
                limit: 10,
                types: Vec::new(),
            },
        )
        .await
        .expect("list");
    let got: BTreeSet<(&str, String, String)> = events
        .iter()
        .map(|e| {
            (
                e.kind.as_str(),
                e.data["id"].as_str().unwrap_or_default().to_owned(),
                e.data["source"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let want: BTreeSet<(&str, String, String)> = [
        ("user.updated", u.id.to_string(), "manual".to_owned()),
        ("group.updated", g.id.to_string(), "manual".to_owned()),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
    assert_eq!(store.release_sync(org.id).await.expect("again"), 0);
    assert_eq!(
        store.last_event_sequence(org.id).await.expect("last"),
        mark + 2
    );
}

pub async fn event_pages_filter_by_type_and_purge_keeps_the_numbering(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    // Written two days ago: the purge below takes only these, not what cases running beside
    // this one append to the same database.
    let old = now() - Duration::days(2);
    let create_old = |name: &str, kind: ResourceKind, members: Vec<ResourceId>| {
        let body = if kind == USER {
            user_body(name)
        } else {
            group_body(name)
        };
        NewResource {
            id: ResourceId::new(),
            doc: canonical(kind, &body),
            now: old,
            members: members.iter().map(member_ref).collect(),
        }
    };
    let u = store
        .create_resource(org.id, USER, create_old("p1", USER, vec![]))
        .await
        .expect("user");
    store
        .create_resource(org.id, GROUP, create_old("P", GROUP, vec![u.id]))
        .await
        .expect("group");
    store
        .create_resource(org.id, USER, create_old("p2", USER, vec![]))
        .await
        .expect("user");
    let q = |after, limit, types| EventQuery {
        after,
        limit,
        types,
    };
    let page = store
        .list_events(org.id, &q(0, 2, vec![]))
        .await
        .expect("page");
    assert_eq!(page.iter().map(|e| e.sequence).collect::<Vec<_>>(), [1, 2]);
    let page = store
        .list_events(org.id, &q(2, 2, vec![]))
        .await
        .expect("page");
    assert_eq!(page.iter().map(|e| e.sequence).collect::<Vec<_>>(), [3, 4]);
    let users = store
        .list_events(org.id, &q(0, 10, vec![EventType::UserCreated]))
        .await
        .expect("users");
    assert_eq!(users.iter().map(|e| e.sequence).collect::<Vec<_>>(), [1, 4]);
    assert_eq!(users[0].created, old);

    // Purging them keeps the counter: the next event is 5.
    let purged = store
        .purge_events(now() - Duration::days(1))
        .await
        .expect("purge");
    assert!(purged >= 4);
    assert!(all_events(&*store, org.id).await.is_empty());
    create_user(&*store, org.id, "p3").await;
    let events = all_events(&*store, org.id).await;
    assert_eq!(events.iter().map(|e| e.sequence).collect::<Vec<_>>(), [5]);
}

pub async fn directory_reads_page_objects_and_members(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    let mut users = Vec::new();
    for i in 0..5 {
        users.push(create_user(&*store, org.id, &format!("d{i}")).await);
    }
    create_user(&*store, other.id, "elsewhere").await;
    let ids: Vec<ResourceId> = users.iter().map(|u| u.id).collect();
    let g = create_group(&*store, org.id, "All", &ids).await;
    // A manual account is listed too; a user SCIM deleted is not.
    let manual = store
        .create_account(
            org.id,
            NewResource {
                id: ResourceId::new(),
                doc: canonical(USER, &user_body("manual")),
                now: now(),
                members: Vec::new(),
            },
            Source::Manual,
            &LocalProps::default(),
        )
        .await
        .expect("manual");
    store
        .retire_account(org.id, users[4].id, None, now(), now() + Duration::days(1))
        .await
        .expect("retire");

    let page = |after, limit| DirectoryQuery {
        after,
        limit,
        updated_since: None,
    };
    let first = store
        .directory_objects(org.id, USER, &page(0, 3))
        .await
        .expect("page 1");
    assert_eq!(first.len(), 3);
    let rest = store
        .directory_objects(org.id, USER, &page(first[2].0, 10))
        .await
        .expect("page 2");
    let names: Vec<String> = first
        .iter()
        .chain(&rest)
        .map(|(_, o)| o["user_name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, ["d0", "d1", "d2", "d3", "manual"], "oldest first");
    assert_eq!(rest[0].1["groups"], json!([g.id.to_string()]));
    assert_eq!(rest[1].1["source"], json!("manual"));

    let since = DirectoryQuery {
        after: 0,
        limit: 10,
        updated_since: Some(now() + Duration::hours(1)),
    };
    assert!(
        store
            .directory_objects(org.id, USER, &since)
            .await
            .expect("since")
            .is_empty()
    );

    let groups = store
        .directory_objects(org.id, GROUP, &page(0, 10))
        .await
        .expect("groups");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].1["member_count"], json!(4));

    assert!(
        store
            .directory_object(org.id, USER, users[4].id)
            .await
            .expect("get")
            .is_none()
    );
    assert_eq!(
        store
            .directory_object(org.id, USER, manual.resource.id)
            .await
            .expect("get")
            .map(|o| o["user_name"].clone()),
        Some(json!("manual"))
    );
    assert!(
        store
            .directory_object(other.id, USER, users[0].id)
            .await
            .expect("get")
            .is_none()
    );

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let part = store
            .directory_members(org.id, g.id, after, 3)
            .await
            .expect("members")
            .expect("group exists");
        if part.is_empty() {
            break;
        }
        after = part.last().map(|(id, _)| *id);
        seen.extend(part.into_iter().map(|(id, _)| id));
    }
    let mut want: Vec<ResourceId> = ids[..4].to_vec();
    want.sort();
    assert_eq!(seen, want, "every remaining member once, in id order");
    assert!(
        store
            .directory_members(other.id, g.id, None, 3)
            .await
            .expect("other")
            .is_none()
    );
}

pub async fn concurrent_writers_events_follow_in_order(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    const WRITERS: usize = 8;
    const EACH: usize = 25;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                create_user(&*store, org.id, &format!("w{w}-{i}")).await;
            }
        }));
    }
    // A reader follows `after` while the writers commit: it must never see a sequence ahead
    // of one it has not seen (a gap later filled would mean an event committed behind it).
    let total = (WRITERS * EACH) as i64;
    let mut after = 0;
    let mut seen = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while seen < total {
        let page = store
            .list_events(
                org.id,
                &EventQuery {
                    after,
                    limit: 50,
                    types: Vec::new(),
                },
            )
            .await
            .expect("follow");
        for e in &page {
            assert_eq!(e.sequence, after + 1, "no gap, no repeat");
            after = e.sequence;
            seen += 1;
        }
        assert!(std::time::Instant::now() < deadline, "writers stalled");
        if page.is_empty() {
            tokio::task::yield_now().await;
        }
    }
    for t in tasks {
        t.await.expect("writer");
    }
    assert_eq!(
        store.last_event_sequence(org.id).await.expect("last"),
        total
    );
}
