//! The directory is isolated between organisations.

use super::*;

pub async fn directory_is_isolated_between_organisations(store: Arc<dyn Store>) {
    let a = World::new(store.clone(), OrgKind::Business).await;
    let b = World::new(store, OrgKind::Business).await;
    let id = a.manual("shared@example.com").await;
    assert!(b.dir.get_account(b.org.id, &id).await.is_err());
    b.scim_create("shared@example.com")
        .await
        .expect("another org's namespace");
    assert!(
        b.dir
            .list_conflicts(b.org.id)
            .await
            .expect("list")
            .is_empty()
    );
    let mut attributes = Map::new();
    attributes.insert("displayName".into(), json!("x"));
    assert!(
        b.dir
            .edit_account(
                b.org.id,
                "cli",
                &id,
                AccountEdit {
                    attributes,
                    ..AccountEdit::default()
                }
            )
            .await
            .is_err()
    );
}
