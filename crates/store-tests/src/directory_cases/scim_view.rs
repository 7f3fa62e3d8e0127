//! What SCIM sees of the directory, and account pages.

use super::*;

pub async fn scim_sees_only_synced_live_accounts(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::Business).await;
    let synced = w.scim_create("synced@example.com").await.expect("create");
    let manual = w.manual("manual@example.com").await;
    assert!(w.scim_get(&synced).await.is_ok());
    assert_scim(
        w.scim_get(&manual).await.expect_err("refused"),
        404,
        None,
        "not found",
    );
    assert_eq!(w.scim_filter("manual@example.com").await, 0);
    assert_eq!(w.scim_filter("synced@example.com").await, 1);
    let all = w
        .dir
        .list_accounts(
            w.org.id,
            &AccountQuery {
                count: 50,
                ..AccountQuery::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(all.total, 2);
    let only_manual = w
        .dir
        .list_accounts(
            w.org.id,
            &AccountQuery {
                source: Some(Source::Manual),
                count: 50,
                ..AccountQuery::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(only_manual.accounts.len(), 1);
    assert_eq!(only_manual.accounts[0].user_name(), "manual@example.com");
    let searched = w
        .dir
        .list_accounts(
            w.org.id,
            &AccountQuery {
                search: Some("SYNCED".into()),
                count: 50,
                ..AccountQuery::default()
            },
        )
        .await
        .expect("search");
    assert_eq!(searched.total, 1);
    // A new SCIM account gets the business default role.
    let a = w.dir.get_account(w.org.id, &synced).await.expect("account");
    assert_eq!(a.local.roles, vec!["staff"]);
    assert_eq!(a.source, Source::Scim);
}

/// The total of an unfiltered list follows every change of what SCIM sees: creates, SCIM
/// deletions, purges, disconnecting, merging; manual accounts and other organisations never
/// count.
pub async fn unfiltered_totals_follow_every_change_of_what_scim_sees(store: Arc<dyn Store>) {
    let w = World::new(store.clone(), OrgKind::Business).await;
    let elsewhere = World::new(store, OrgKind::Business).await;
    elsewhere
        .scim_create("a@example.com")
        .await
        .expect("create");
    w.lc.generate_token(&w.org, "cli").await.expect("token");
    let users = |n: usize| (n as u64, n);
    assert_eq!(w.scim_totals(ResourceKind::User).await, users(0));
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        ids.push(
            w.scim_create(&format!("{name}@example.com"))
                .await
                .expect("create"),
        );
    }
    w.manual("manual@example.com").await;
    w.scim
        .create(
            w.org.id,
            ResourceKind::Group,
            &json!({ "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "G" }),
            Load::default(),
        )
        .await
        .expect("group");
    assert_eq!(w.scim_totals(ResourceKind::User).await, users(3));
    assert_eq!(w.scim_totals(ResourceKind::Group).await, users(1));
    w.scim
        .delete(
            w.org.id,
            ResourceKind::User,
            &ids[1],
            &Precondition::default(),
        )
        .await
        .expect("delete");
    assert_eq!(w.scim_totals(ResourceKind::User).await, users(2));
    w.clock.advance(Duration::days(31));
    w.dir.purge_retired().await.expect("purge");
    assert_eq!(w.scim_totals(ResourceKind::User).await, users(2));
    w.dir.disconnect(w.org.id, "cli").await.expect("disconnect");
    assert_eq!(w.scim_totals(ResourceKind::User).await, users(0));
    assert_eq!(w.scim_totals(ResourceKind::Group).await, users(0));
    w.lc.generate_token(&w.org, "cli").await.expect("new token");
    w.scim_create("a@example.com")
        .await
        .expect_err("a conflict");
    assert_eq!(w.dir.merge_all(w.org.id, "cli").await.expect("merge"), 1);
    w.scim_create("d@example.com").await.expect("create");
    assert_eq!(w.scim_totals(ResourceKind::User).await, users(2));
    assert_eq!(elsewhere.scim_totals(ResourceKind::User).await, users(1));
}

pub async fn school_accounts_default_to_student(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::School).await;
    let id = w.scim_create("pupil@school.example").await.expect("create");
    let a = w.dir.get_account(w.org.id, &id).await.expect("account");
    assert_eq!(a.local.roles, vec!["student"]);
}

pub async fn account_pages_visit_every_account_once(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::Business).await;
    for i in 0..23 {
        w.scim_create(&format!("u{i:02}@example.com"))
            .await
            .expect("create");
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = w
            .dir
            .list_accounts(
                w.org.id,
                &AccountQuery {
                    after: after.clone(),
                    count: 5,
                    ..AccountQuery::default()
                },
            )
            .await
            .expect("page");
        assert_eq!(page.total, 23);
        seen.extend(page.accounts.iter().map(|a| a.user_name().to_owned()));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen.len(), 23);
    assert_eq!(sorted.len(), 23);
}
