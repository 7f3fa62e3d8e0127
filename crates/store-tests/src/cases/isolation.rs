//! Organisation isolation across every method.

use super::*;

pub async fn org_isolation_for_every_method(store: Arc<dyn Store>) {
    let a = new_org(&*store).await;
    let b = new_org(&*store).await;
    let ua = create_user(&*store, a.id, "shared-name").await;
    let ga = create_group(&*store, a.id, "A", &[ua.id]).await;
    let ta = token(a.id, 3);
    store.insert_token(&ta).await.expect("token");
    let gb = create_group(&*store, b.id, "B", &[]).await;

    for (kind, id) in [(USER, ua.id), (GROUP, ga.id)] {
        assert_eq!(
            store
                .get_resource(b.id, kind, id, Load { relations: true })
                .await
                .expect("get"),
            None
        );
        let r = store
            .update_resource(b.id, kind, id, update(1), Load::default())
            .await;
        assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
        let r = store.delete_resource(b.id, kind, id, None).await;
        assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
        let page = list(
            &*store,
            b.id,
            kind,
            &ListQuery {
                filter: Some(filter(kind, &format!("id eq \"{id}\""))),
                ..query(10)
            },
        )
        .await;
        assert_eq!(page.total, 0);
    }
    let page = list(&*store, b.id, USER, &query(10)).await;
    assert_eq!(page.total, 0);
    assert_eq!(
        ids(&list(&*store, b.id, GROUP, &query(10)).await),
        vec![gb.id]
    );
    // A's user cannot join B's group, and B's list of members never shows A's.
    let r = store
        .update_resource(
            b.id,
            GROUP,
            gb.id,
            Update {
                expected_version: Some(1),
                doc: None,
                member_changes: vec![MemberChange::Add(vec![member_ref(&ua.id)])],
                now: now(),
            },
            Load::default(),
        )
        .await;
    assert!(matches!(r, Err(StoreError::UnknownMember(_))), "{r:?}");
    // B has its own user of the same name, and its own cursor space.
    create_user(&*store, b.id, "shared-name").await;
    let walked = walk_cursor(&*store, b.id, USER, query(1)).await;
    assert_eq!(walked.len(), 1);
    let page_a = list(
        &*store,
        a.id,
        USER,
        &ListQuery {
            cursor: Some(String::new()),
            ..query(1)
        },
    )
    .await;
    assert_eq!(ids(&page_a), vec![ua.id]);
    assert_eq!(store.list_tokens(b.id).await.expect("tokens"), vec![]);
    store.touch_token(b.id, ta.id, now()).await.expect("touch");
    assert_eq!(
        store
            .find_token_by_hash(&ta.hash)
            .await
            .expect("find")
            .expect("token")
            .last_used,
        None
    );
    // Everything of A is intact.
    let g = get(&*store, a.id, GROUP, ga.id).await.expect("group");
    assert_eq!((g.version, g.members.map(|m| m.len())), (1, Some(1)));
}
