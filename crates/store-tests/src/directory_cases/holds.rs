//! Holds after SCIM deletion, and their purge.

use super::*;

async fn hold_case(kind: OrgKind, days: i64, store: Arc<dyn Store>) {
    let w = World::new(store, kind).await;
    let id = w.scim_create("leaver@example.com").await.expect("create");
    w.scim
        .delete(w.org.id, ResourceKind::User, &id, &Precondition::default())
        .await
        .expect("delete");
    assert_scim(
        w.scim_get(&id).await.expect_err("refused"),
        404,
        None,
        "not found",
    );
    assert_eq!(w.scim_filter("leaver@example.com").await, 0);
    let a = w
        .dir
        .get_account(w.org.id, &id)
        .await
        .expect("still in the directory");
    assert_eq!(a.status(), Status::Deactivated);
    assert_eq!(a.hold_until, Some(T0 + Duration::days(days)));
    // A second DELETE finds nothing.
    let again = w
        .scim
        .delete(w.org.id, ResourceKind::User, &id, &Precondition::default())
        .await;
    assert_scim(again.expect_err("refused"), 404, None, "not found");

    w.clock.advance(Duration::days(days) - Duration::minutes(1));
    let refused = w
        .scim_create("LEAVER@example.com")
        .await
        .expect_err("refused");
    assert_scim(refused, 409, Some(ScimType::Uniqueness), "reserved until");
    w.clock.advance(Duration::minutes(2));
    let new_id = w
        .scim_create("LEAVER@example.com")
        .await
        .expect("free again");
    assert_ne!(new_id, id);
    assert!(
        w.dir.get_account(w.org.id, &id).await.is_err(),
        "old account purged"
    );
}

pub async fn deleted_business_user_name_is_held_30_days(store: Arc<dyn Store>) {
    hold_case(OrgKind::Business, 30, store).await;
}

pub async fn deleted_school_user_name_is_held_120_days(store: Arc<dyn Store>) {
    hold_case(OrgKind::School, 120, store).await;
}

pub async fn purge_job_removes_accounts_past_their_hold(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::Business).await;
    let old = w.scim_create("old@example.com").await.expect("create");
    w.scim
        .delete(w.org.id, ResourceKind::User, &old, &Precondition::default())
        .await
        .expect("delete");
    w.clock.advance(Duration::days(10));
    let recent = w.scim_create("recent@example.com").await.expect("create");
    w.scim
        .delete(
            w.org.id,
            ResourceKind::User,
            &recent,
            &Precondition::default(),
        )
        .await
        .expect("delete");
    w.clock.advance(Duration::days(21));
    w.dir.purge_retired().await.expect("purge");
    assert!(w.dir.get_account(w.org.id, &old).await.is_err());
    assert!(
        w.dir.get_account(w.org.id, &recent).await.is_ok(),
        "still held"
    );
    // Running it again changes nothing (another instance may run it too).
    w.dir.purge_retired().await.expect("purge again");
    assert!(w.dir.get_account(w.org.id, &recent).await.is_ok());
}

pub async fn deleted_user_leaves_its_groups(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::Business).await;
    let u = w.scim_create("member@example.com").await.expect("create");
    let g = w
        .scim
        .create(
            w.org.id,
            ResourceKind::Group,
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Staff",
                    "members": [{"value": u}]}),
            Load::default(),
        )
        .await
        .expect("group");
    w.scim
        .delete(w.org.id, ResourceKind::User, &u, &Precondition::default())
        .await
        .expect("delete");
    let g = w
        .scim
        .get(
            w.org.id,
            ResourceKind::Group,
            &g.id.to_string(),
            Load { relations: true },
        )
        .await
        .expect("group");
    assert_eq!(g.members.as_deref().map(<[_]>::len), Some(0));
    assert!(g.version > 1, "the group changed");
    // Nor can it be added back while held.
    let add = w
        .patch(
            ResourceKind::Group,
            &g.id.to_string(),
            json!([{"op": "add", "path": "members", "value": [{"value": u}]}]),
        )
        .await;
    assert_scim(
        add.expect_err("refused"),
        400,
        Some(ScimType::InvalidValue),
        "does not exist",
    );
}

pub async fn an_administrator_releases_a_held_user_name(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::School).await;
    let live = w.scim_create("stays@example.com").await.expect("create");
    let id = w.scim_create("leaver@example.com").await.expect("create");
    w.scim
        .delete(w.org.id, ResourceKind::User, &id, &Precondition::default())
        .await
        .expect("delete");
    // Only a held account can be released, and only in its own organisation.
    let refused = w
        .dir
        .release_hold(w.org.id, "cli", &live)
        .await
        .expect_err("not held");
    assert_eq!(
        directory::Failure::kind(&refused),
        directory::ErrorKind::Invalid
    );
    let other = World::new(w.store.clone(), OrgKind::School).await;
    assert!(
        other
            .dir
            .release_hold(other.org.id, "cli", &id)
            .await
            .is_err()
    );
    assert!(w.dir.get_account(w.org.id, &id).await.is_ok(), "still held");

    w.dir
        .release_hold_of(w.org.id, "cli", "LEAVER@example.com")
        .await
        .expect("released");
    assert!(w.dir.get_account(w.org.id, &id).await.is_err(), "gone");
    let new_id = w
        .scim_create("leaver@example.com")
        .await
        .expect("the name is free at once");
    assert_ne!(new_id, id);
    assert!(w.actions().await.contains(&"account.release".to_owned()));
    assert!(w.dir.get_account(w.org.id, &live).await.is_ok());
}
