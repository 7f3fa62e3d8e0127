//! Applications and their keys.

use super::*;
use directory::ids::AppId;
use directory::store::Application;

fn app(org: OrgId, name: &str) -> Application {
    let mut hash = [0u8; 32];
    hash[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    hash[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    Application {
        id: AppId::new(),
        org_id: org,
        name: name.to_owned(),
        prefix: "scimd_app_abcdef".into(),
        hash,
        created: now(),
        last_used: None,
        revoked: None,
    }
}

pub async fn apps_round_trip_and_are_found_by_key_hash(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let first = app(org.id, "intranet");
    let mut second = app(org.id, "lms");
    second.created = first.created + Duration::seconds(1);
    store.insert_app(&first).await.expect("insert");
    store.insert_app(&second).await.expect("insert");
    assert_eq!(
        store.list_apps(org.id).await.expect("list"),
        vec![first.clone(), second.clone()],
        "oldest first, as stored"
    );
    assert_eq!(
        store.find_app_by_hash(&second.hash).await.expect("find"),
        Some(second.clone())
    );
    assert_eq!(store.find_app_by_hash(&[9; 32]).await.expect("find"), None);

    // Use is recorded, then at most once a minute.
    let t = now();
    store.touch_app(org.id, first.id, t).await.expect("touch");
    store
        .touch_app(org.id, first.id, t + Duration::seconds(30))
        .await
        .expect("touch");
    let found = store.find_app_by_hash(&first.hash).await.expect("find");
    assert_eq!(found.and_then(|a| a.last_used), Some(t));
    let later = t + Duration::seconds(61);
    store
        .touch_app(org.id, first.id, later)
        .await
        .expect("touch");
    let found = store.find_app_by_hash(&first.hash).await.expect("find");
    assert_eq!(found.and_then(|a| a.last_used), Some(later));
    let listed = store.list_apps(org.id).await.expect("list");
    assert_eq!(listed[1].last_used, None, "only the touched application");
}

pub async fn app_names_are_unique_among_live_apps_and_revoked_once(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let first = app(org.id, "intranet");
    store.insert_app(&first).await.expect("insert");
    match store.insert_app(&app(org.id, "intranet")).await {
        Err(StoreError::Conflict("name")) => {}
        other => panic!("a live name taken twice: {other:?}"),
    }
    // Names compare exactly: another spelling is another name.
    store
        .insert_app(&app(org.id, "Intranet"))
        .await
        .expect("another name");

    let at = now();
    assert!(
        store
            .revoke_app(org.id, first.id, at)
            .await
            .expect("revoke")
    );
    assert!(
        !store
            .revoke_app(org.id, first.id, at + Duration::seconds(5))
            .await
            .expect("revoke again"),
        "revoked once"
    );
    assert!(
        !store
            .revoke_app(org.id, AppId::new(), at)
            .await
            .expect("revoke unknown")
    );
    let found = store
        .find_app_by_hash(&first.hash)
        .await
        .expect("find")
        .expect("a revoked application is still found, to be refused");
    assert_eq!(found.revoked, Some(at), "the first revocation stands");
    // The name of a revoked application is free again.
    store
        .insert_app(&app(org.id, "intranet"))
        .await
        .expect("a revoked application's name");
    assert_eq!(store.list_apps(org.id).await.expect("list").len(), 3);
}

pub async fn apps_stay_in_their_organisation(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    let mine = app(org.id, "intranet");
    store.insert_app(&mine).await.expect("insert");
    // The same name in another organisation is another application.
    store
        .insert_app(&app(other.id, "intranet"))
        .await
        .expect("same name elsewhere");
    assert_eq!(
        store.list_apps(org.id).await.expect("list"),
        vec![mine.clone()]
    );
    assert!(
        !store
            .revoke_app(other.id, mine.id, now())
            .await
            .expect("revoke from elsewhere")
    );
    store
        .touch_app(other.id, mine.id, now())
        .await
        .expect("touch from elsewhere");
    let found = store
        .find_app_by_hash(&mine.hash)
        .await
        .expect("find")
        .expect("found");
    assert_eq!((found.revoked, found.last_used), (None, None));
    assert_eq!(found.org_id, org.id);
}
