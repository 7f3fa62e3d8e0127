//! Organisations and their connection state.

use super::*;
use directory::OrgKind;
use directory::store::OrgUpdate;

pub async fn orgs_round_trip(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    assert_eq!(store.get_org(org.id).await.expect("get"), Some(org.clone()));
    assert!(store.list_orgs().await.expect("list").contains(&org));
    assert_eq!(
        store.get_org(directory::OrgId::new()).await.expect("get"),
        None
    );
}

pub async fn connection_state_round_trips_per_org(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    assert_eq!(store.get_connection(org.id).await.expect("get"), None);
    for state in [
        ConnectionState::Pending,
        ConnectionState::Active,
        ConnectionState::Disconnected,
        ConnectionState::NotConnected,
    ] {
        let c = Connection {
            state,
            changed: now(),
        };
        store.set_connection(org.id, &c).await.expect("set");
        assert_eq!(store.get_connection(org.id).await.expect("get"), Some(c));
    }
    assert_eq!(store.get_connection(other.id).await.expect("get"), None);
}

pub async fn org_rename_always_and_kind_change_only_without_accounts(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    assert_eq!(
        store
            .update_org(org.id, "Hillside School", OrgKind::School)
            .await
            .expect("update"),
        OrgUpdate::Updated
    );
    let got = store.get_org(org.id).await.expect("get").expect("org");
    assert_eq!(
        (got.name.as_str(), got.kind),
        ("Hillside School", OrgKind::School)
    );
    assert_eq!(
        store.get_org(other.id).await.expect("get"),
        Some(other.clone())
    );
    create_user(&*store, org.id, "pupil@example.com").await;
    // With an account, the kind is fixed and nothing changes, not even the name.
    assert_eq!(
        store
            .update_org(org.id, "Elsewhere", OrgKind::Business)
            .await
            .expect("update"),
        OrgUpdate::HasAccounts
    );
    let got = store.get_org(org.id).await.expect("get").expect("org");
    assert_eq!(
        (got.name.as_str(), got.kind),
        ("Hillside School", OrgKind::School)
    );
    // A rename alone still goes through.
    assert_eq!(
        store
            .update_org(org.id, "Hillside Academy", OrgKind::School)
            .await
            .expect("update"),
        OrgUpdate::Updated
    );
    assert_eq!(
        store.get_org(org.id).await.expect("get").expect("org").name,
        "Hillside Academy"
    );
    // Another organisation's account does not fix this one's kind.
    assert_eq!(
        store
            .update_org(other.id, "Other", OrgKind::School)
            .await
            .expect("update"),
        OrgUpdate::Updated
    );
    assert_eq!(
        store
            .update_org(directory::OrgId::new(), "Nobody", OrgKind::Business)
            .await
            .expect("update"),
        OrgUpdate::NotFound
    );
}

pub async fn reveals_are_taken_once_by_their_admin_before_expiry(store: Arc<dyn Store>) {
    use directory::ids::AdminId;
    use directory::store::Reveal;
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    let (ann, bob) = (AdminId::new(), AdminId::new());
    let t = now();
    let reveal = |hash: u8, expires| Reveal {
        org_id: org.id,
        hash: [hash; 32],
        admin_id: ann,
        sealed: vec![hash, 1, 2, 3],
        expires,
    };
    let live = reveal(1, t + time::Duration::minutes(10));
    store.put_reveal(&live, t).await.expect("put");
    // Another administrator, or the same hash in another organisation, reads nothing and
    // leaves it in place.
    assert_eq!(
        store
            .take_reveal(org.id, &[1; 32], bob, t)
            .await
            .expect("take"),
        None
    );
    assert_eq!(
        store
            .take_reveal(other.id, &[1; 32], ann, t)
            .await
            .expect("take"),
        None
    );
    assert_eq!(
        store
            .take_reveal(org.id, &[1; 32], ann, t)
            .await
            .expect("take"),
        Some(live)
    );
    assert_eq!(
        store
            .take_reveal(org.id, &[1; 32], ann, t)
            .await
            .expect("take"),
        None
    );
    // Expired: never read.
    let old = reveal(2, t + time::Duration::minutes(10));
    store.put_reveal(&old, t).await.expect("put");
    let later = t + time::Duration::minutes(11);
    assert_eq!(
        store
            .take_reveal(org.id, &[2; 32], ann, later)
            .await
            .expect("take"),
        None
    );
    // A new value drops expired ones, and is itself kept.
    let newer = reveal(3, later + time::Duration::minutes(10));
    store.put_reveal(&newer, later).await.expect("put");
    assert_eq!(
        store
            .take_reveal(org.id, &[2; 32], ann, t)
            .await
            .expect("take"),
        None,
        "the expired row was dropped"
    );
    assert_eq!(
        store
            .take_reveal(org.id, &[3; 32], ann, later)
            .await
            .expect("take"),
        Some(newer)
    );
}

pub async fn org_time_zone_defaults_to_utc_and_is_set_per_org(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    assert_eq!(store.org_time_zone(org.id).await.expect("get"), "UTC");
    store
        .set_org_time_zone(org.id, "Europe/Paris")
        .await
        .expect("set");
    assert_eq!(
        store.org_time_zone(org.id).await.expect("get"),
        "Europe/Paris"
    );
    // The other organisation keeps its own.
    assert_eq!(store.org_time_zone(other.id).await.expect("get"), "UTC");
    store
        .set_org_time_zone(org.id, "America/New_York")
        .await
        .expect("set again");
    assert_eq!(
        store.org_time_zone(org.id).await.expect("get"),
        "America/New_York"
    );
    let unknown = directory::OrgId::new();
    assert!(matches!(
        store.org_time_zone(unknown).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.set_org_time_zone(unknown, "UTC").await,
        Err(StoreError::NotFound)
    ));
    // The organisation is otherwise unchanged.
    assert_eq!(store.get_org(org.id).await.expect("get"), Some(org));
}
