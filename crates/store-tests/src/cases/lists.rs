//! List queries: counts, index and cursor paging, sorting, relations, and filters checked
//! against the in-memory evaluator.

use super::*;

pub async fn list_counts_and_pages_by_index_in_stable_order(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let mut all = Vec::new();
    for i in 0..7 {
        all.push(create_user(&*store, org.id, &format!("page{i}")).await.id);
    }
    create_group(&*store, org.id, "not a user", &[]).await;
    let mut seen = Vec::new();
    for start in [1, 4, 7] {
        let page = list(
            &*store,
            org.id,
            USER,
            &ListQuery {
                start_index: start,
                ..query(3)
            },
        )
        .await;
        assert_eq!(page.total, 7);
        assert_eq!(page.next_cursor, None, "index paging has no cursor");
        seen.extend(ids(&page));
    }
    assert_eq!(seen, all, "creation order, each once");
    let beyond = list(
        &*store,
        org.id,
        USER,
        &ListQuery {
            start_index: 50,
            ..query(3)
        },
    )
    .await;
    assert_eq!((beyond.total, beyond.resources.len()), (7, 0));
    let counted = list(&*store, org.id, USER, &query(0)).await;
    assert_eq!((counted.total, counted.resources.len()), (7, 0));
    // A first page that holds everything, exactly full, or one short of everything.
    for (count, rows) in [(10, 7), (7, 7), (6, 6)] {
        let page = list(&*store, org.id, USER, &query(count)).await;
        assert_eq!(
            (page.total, page.resources.len()),
            (7, rows),
            "count={count}"
        );
    }
    let filtered = list(
        &*store,
        org.id,
        USER,
        &ListQuery {
            filter: Some(filter(
                USER,
                "userName sw \"PAGE\" and not (userName eq \"page3\")",
            )),
            ..query(2)
        },
    )
    .await;
    assert_eq!(filtered.total, 6);
    assert_eq!(ids(&filtered), vec![all[0], all[1]]);
}

async fn users_with_titles(store: &dyn Store, org: directory::OrgId, n: usize) -> Vec<ResourceId> {
    // Names in an order unrelated to creation; every third user has no title.
    let mut all = Vec::new();
    for i in 0..n {
        let name = format!(
            "{}-{i}",
            ["kim", "Ada", "zed", "Émile", "bo", "ÄRNE", "carl"][(i * 5) % 7]
        );
        let body = if i % 3 == 0 {
            user_body(&name)
        } else {
            json!({ "userName": name, "title": format!("T{}", (i * 7) % 5) })
        };
        all.push(create_user_with(store, org, body).await.id);
    }
    all
}

fn sorted(path: &str, order: SortOrder, count: u64) -> ListQuery {
    let p = scim_core::path::parse_attr_path(path)
        .expect("path")
        .resolve(USER)
        .expect("resolve");
    ListQuery {
        sort: Some((p, order)),
        ..query(count)
    }
}

pub async fn cursor_paging_visits_every_row_once(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let all = users_with_titles(&*store, org.id, 11).await;
    for count in [1, 4, 11, 20] {
        assert_eq!(
            walk_cursor(&*store, org.id, USER, query(count)).await,
            all,
            "count {count}"
        );
    }
    let q = ListQuery {
        filter: Some(filter(USER, "title pr")),
        ..query(3)
    };
    let with_title: Vec<ResourceId> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(walk_cursor(&*store, org.id, USER, q).await, with_title);
}

/// Checks cursor paging under a sort against index paging under the same sort.
async fn cursor_matches_index_order(
    store: &dyn Store, org: directory::OrgId, path: &str, order: SortOrder, n: usize,
) {
    let whole = list(store, org, USER, &sorted(path, order, 1000)).await;
    assert_eq!(whole.resources.len(), n);
    let expected = ids(&whole);
    for count in [1, 2, 5] {
        let walked = walk_cursor(store, org, USER, sorted(path, order, count)).await;
        assert_eq!(walked, expected, "sortBy {path} {order:?}, count {count}");
    }
}

pub async fn cursor_paging_by_user_name_descending_visits_every_row_once(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    users_with_titles(&*store, org.id, 10).await;
    cursor_matches_index_order(&*store, org.id, "userName", SortOrder::Descending, 10).await;
    cursor_matches_index_order(&*store, org.id, "userName", SortOrder::Ascending, 10).await;
    let whole = list(
        &*store,
        org.id,
        USER,
        &sorted("userName", SortOrder::Ascending, 100),
    )
    .await;
    let names: Vec<String> = whole
        .resources
        .iter()
        .map(|r| {
            r.doc["userName"]
                .as_str()
                .unwrap_or_default()
                .to_lowercase()
        })
        .collect();
    let mut want = names.clone();
    want.sort();
    assert_eq!(names, want, "case-insensitive code point order");
}

pub async fn cursor_paging_with_missing_sort_keys_ascending(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    users_with_titles(&*store, org.id, 9).await;
    cursor_matches_index_order(&*store, org.id, "title", SortOrder::Ascending, 9).await;
    let whole = list(
        &*store,
        org.id,
        USER,
        &sorted("title", SortOrder::Ascending, 100),
    )
    .await;
    assert!(
        whole.resources[0].doc.get("title").is_none(),
        "missing keys sort first ascending"
    );
}

pub async fn cursor_paging_with_missing_sort_keys_descending(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    users_with_titles(&*store, org.id, 9).await;
    cursor_matches_index_order(&*store, org.id, "title", SortOrder::Descending, 9).await;
}

pub async fn invalid_cursor_is_refused(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    create_user(&*store, org.id, "c").await;
    for bad in ["%%%", "bm90IGpzb24", "e30"] {
        let r = store
            .list_resources(
                org.id,
                USER,
                &ListQuery {
                    cursor: Some(bad.into()),
                    ..query(5)
                },
            )
            .await;
        assert!(matches!(r, Err(StoreError::InvalidCursor)), "{bad}: {r:?}");
    }
}

/// Cursors name nothing a client can read (no sequence number), are refused when changed or
/// sent by another organisation, and are read by every handle on the same database.
pub async fn cursors_are_sealed_for_their_organisation_and_deployment(
    store: Arc<dyn Store>, other_handle: Arc<dyn Store>,
) {
    use base64::Engine;
    let org = new_org(&*store).await;
    let other = new_org(&*store).await;
    for name in ["a", "b", "c"] {
        create_user(&*store, org.id, name).await;
    }
    let first = store
        .list_resources(
            org.id,
            USER,
            &ListQuery {
                cursor: Some(String::new()),
                ..query(1)
            },
        )
        .await
        .expect("first page");
    let cursor = first.next_cursor.expect("a next page");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&cursor)
        .expect("base64url");
    assert!(
        !bytes.windows(3).any(|w| w == b"seq"),
        "the cursor shows its sequence: {:?}",
        String::from_utf8_lossy(&bytes)
    );
    let page = |store: Arc<dyn Store>, org, cursor: String| async move {
        store
            .list_resources(
                org,
                USER,
                &ListQuery {
                    cursor: Some(cursor),
                    ..query(5)
                },
            )
            .await
    };
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let flipped = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(flipped);
    for (what, org, text) in [
        ("changed", org.id, flipped),
        ("another organisation's", other.id, cursor.clone()),
    ] {
        let r = page(store.clone(), org, text).await;
        assert!(
            matches!(r, Err(StoreError::InvalidCursor)),
            "{what} cursor: {r:?}"
        );
    }
    let rest = page(other_handle, org.id, cursor)
        .await
        .expect("another handle reads the cursor");
    assert_eq!(rest.resources.len(), 2);
}

pub async fn sort_by_multi_valued_attribute_uses_primary_value(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let emails = |list: &[(&str, bool)]| {
        list.iter()
            .map(|(v, p)| {
                if *p {
                    json!({ "value": v, "primary": true })
                } else {
                    json!({ "value": v })
                }
            })
            .collect::<Vec<_>>()
    };
    let c = create_user_with(
        &*store,
        org.id,
        json!({ "userName": "c", "emails": emails(&[("a@x", false), ("C@x", true)]) }),
    )
    .await;
    let a = create_user_with(
        &*store,
        org.id,
        json!({ "userName": "a", "emails": emails(&[("z@x", false), ("A@x", true)]) }),
    )
    .await;
    let b = create_user_with(
        &*store,
        org.id,
        json!({ "userName": "b", "emails": emails(&[("b@x", false), ("y@x", false)]) }),
    )
    .await;
    let none = create_user(&*store, org.id, "none").await;
    for path in ["emails", "emails.value"] {
        let asc = list(
            &*store,
            org.id,
            USER,
            &sorted(path, SortOrder::Ascending, 10),
        )
        .await;
        assert_eq!(ids(&asc), vec![none.id, a.id, b.id, c.id], "{path}");
        let desc = list(
            &*store,
            org.id,
            USER,
            &sorted(path, SortOrder::Descending, 10),
        )
        .await;
        assert_eq!(ids(&desc), vec![c.id, b.id, a.id, none.id], "{path}");
        cursor_matches_index_order(&*store, org.id, path, SortOrder::Ascending, 4).await;
    }
}

pub async fn list_loads_relations_when_asked(store: Arc<dyn Store>) {
    let org = new_org(&*store).await;
    let u = create_user(&*store, org.id, "rel").await;
    let g = create_group(&*store, org.id, "Rel", &[u.id]).await;
    let empty = create_group(&*store, org.id, "Empty", &[]).await;
    let load = Load { relations: true };
    let groups = list(&*store, org.id, GROUP, &ListQuery { load, ..query(10) }).await;
    let members: Vec<(ResourceId, usize)> = groups
        .resources
        .iter()
        .map(|r| (r.id, r.members.as_ref().map_or(99, Vec::len)))
        .collect();
    assert_eq!(members, vec![(g.id, 1), (empty.id, 0)]);
    let users = list(&*store, org.id, USER, &ListQuery { load, ..query(10) }).await;
    assert_eq!(
        users.resources[0]
            .groups
            .as_ref()
            .map(|gs| gs.iter().map(|g| g.id).collect::<Vec<_>>()),
        Some(vec![g.id])
    );
    let plain = list(&*store, org.id, GROUP, &query(10)).await;
    assert!(plain.resources.iter().all(|r| r.members.is_none()));
}

pub async fn filters_agree_with_evaluator_on_common_user_attributes(store: Arc<dyn Store>) {
    oracle::run(&*store, USER, Coverage::Common, 400).await;
}

pub async fn filters_agree_with_evaluator_on_common_group_attributes(store: Arc<dyn Store>) {
    oracle::run(&*store, GROUP, Coverage::Common, 200).await;
}

pub async fn filters_agree_with_evaluator_on_every_user_attribute(store: Arc<dyn Store>) {
    oracle::run(&*store, USER, Coverage::Every, 400).await;
}

pub async fn filters_agree_with_evaluator_on_every_group_attribute(store: Arc<dyn Store>) {
    oracle::run(&*store, GROUP, Coverage::Every, 200).await;
}
