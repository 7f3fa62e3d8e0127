//! Account search (docs/contract.md, "Account search"): what it finds, in which organisation,
//! and that its index follows every write.

use super::*;

async fn found(w: &World, search: &str) -> Vec<String> {
    let page = w
        .dir
        .list_accounts(
            w.org.id,
            &AccountQuery {
                search: Some(search.into()),
                count: 100,
                ..AccountQuery::default()
            },
        )
        .await
        .expect("search");
    assert_eq!(
        page.total as usize,
        page.accounts.len(),
        "one page: {search}"
    );
    let mut names: Vec<String> = page
        .accounts
        .iter()
        .map(|a| a.user_name().to_owned())
        .collect();
    names.sort();
    names
}

fn person(user_name: &str, given: &str, family: &str, display: &str, email: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "displayName": display,
        "name": { "givenName": given, "familyName": family },
        "emails": [{ "value": email, "type": "work" }],
        "active": true
    })
}

async fn scim_person(w: &World, doc: &Value) -> String {
    w.scim
        .create(w.org.id, ResourceKind::User, doc, Load::default())
        .await
        .expect("create")
        .id
        .to_string()
}

pub async fn account_search_finds_substrings_and_prefixes_of_each_field(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::Business).await;
    scim_person(
        &w,
        &person(
            "G.Hopper",
            "Grace",
            "Hopper",
            "Amazing Grace",
            "admiral@navy.example",
        ),
    )
    .await;
    w.dir
        .create_account(
            w.org.id,
            "cli",
            &person(
                "alan.t",
                "Alan",
                "Turing",
                "Alan Turing",
                "alan@bletchley.example",
            ),
            None,
        )
        .await
        .expect("manual");
    let grace = vec!["G.Hopper".to_owned()];
    let alan = vec!["alan.t".to_owned()];
    // Substrings of 3 or more characters, case-insensitively, of every field.
    assert_eq!(found(&w, "HOPPER").await, grace, "userName and family name");
    assert_eq!(found(&w, "ppe").await, grace, "inside a word");
    assert_eq!(found(&w, "amazing").await, grace, "displayName");
    assert_eq!(found(&w, "race").await, grace, "given name");
    assert_eq!(found(&w, "miral@nav").await, grace, "e-mail");
    assert_eq!(
        found(&w, "ADMIRAL@navy.example").await,
        grace,
        "a whole address"
    );
    assert!(
        found(&w, "admiral@army.example").await.is_empty(),
        "the whole address, not only its local part"
    );
    assert_eq!(found(&w, "uring").await, alan, "a manual account");
    assert_eq!(found(&w, "bletchley.EXAMPLE").await, alan);
    assert_eq!(found(&w, ".example").await.len(), 2, "both e-mails");
    assert!(found(&w, "zzz").await.is_empty(), "no match");
    assert!(found(&w, "50%").await.is_empty(), "wildcards are literal");
    assert!(found(&w, "\"x\"").await.is_empty(), "quotes are literal");
    // Shorter ones: the start of the userName.
    assert_eq!(found(&w, "g.").await, grace);
    assert_eq!(found(&w, "A").await, alan);
    assert!(found(&w, "op").await.is_empty(), "not inside the userName");
    // The search combines with the other filters.
    let page = w
        .dir
        .list_accounts(
            w.org.id,
            &AccountQuery {
                search: Some("example".into()),
                source: Some(Source::Manual),
                count: 10,
                ..AccountQuery::default()
            },
        )
        .await
        .expect("search");
    assert_eq!(page.total, 1);
}

pub async fn account_search_never_finds_another_organisations_accounts(store: Arc<dyn Store>) {
    let a = World::new(store.clone(), OrgKind::Business).await;
    let b = World::new(store, OrgKind::Business).await;
    scim_person(
        &a,
        &person(
            "ann@a.example",
            "Ann",
            "Smith",
            "Ann Smith",
            "ann@a.example",
        ),
    )
    .await;
    scim_person(
        &b,
        &person(
            "bob@b.example",
            "Bob",
            "Smith",
            "Bob Smith",
            "bob@b.example",
        ),
    )
    .await;
    assert_eq!(found(&a, "smith").await, vec!["ann@a.example".to_owned()]);
    assert_eq!(found(&b, "smith").await, vec!["bob@b.example".to_owned()]);
    assert!(found(&a, "bob").await.is_empty());
    assert!(found(&b, "an").await.is_empty());
}

pub async fn account_search_stays_exact_after_every_write(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::Business).await;
    let id = scim_person(
        &w,
        &person("kim", "Kim", "Novak", "Kim Novak", "kim@old.example"),
    )
    .await;
    assert_eq!(found(&w, "novak").await, vec!["kim".to_owned()]);
    // A SCIM PATCH.
    w.patch(
        ResourceKind::User,
        &id,
        json!([{ "op": "replace", "path": "name.familyName", "value": "Basinger" },
               { "op": "replace", "path": "displayName", "value": "Kim Basinger" },
               { "op": "replace", "path": "emails", "value": [{ "value": "kim@new.example" }] }]),
    )
    .await
    .expect("patch");
    assert!(found(&w, "novak").await.is_empty(), "the old name is gone");
    assert!(
        found(&w, "old.example").await.is_empty(),
        "the old e-mail is gone"
    );
    assert_eq!(found(&w, "basinger").await, vec!["kim".to_owned()]);
    assert_eq!(found(&w, "new.exa").await, vec!["kim".to_owned()]);
    // A PATCH of nothing searched leaves the entry as it was; one of the userName alone
    // replaces it (the prefix path too).
    w.patch(
        ResourceKind::User,
        &id,
        json!([{ "op": "replace", "path": "active", "value": false },
               { "op": "replace", "path": "title", "value": "Actress" }]),
    )
    .await
    .expect("patch");
    assert_eq!(found(&w, "basinger").await, vec!["kim".to_owned()]);
    for (name, gone) in [("kbas", "kim"), ("kim", "kbas")] {
        w.patch(
            ResourceKind::User,
            &id,
            json!([{ "op": "replace", "path": "userName", "value": name }]),
        )
        .await
        .expect("rename");
        assert_eq!(found(&w, name).await, vec![name.to_owned()], "renamed");
        assert_eq!(found(&w, &name[..2]).await, vec![name.to_owned()], "prefix");
        assert!(found(&w, &gone[..2]).await.is_empty(), "{gone} is gone");
    }
    // Local properties change nothing searched.
    w.dir
        .edit_account(
            w.org.id,
            "cli",
            &id,
            AccountEdit {
                local: Some(LocalProps {
                    roles: vec!["staff".into()],
                    ..LocalProps::default()
                }),
                ..AccountEdit::default()
            },
        )
        .await
        .expect("local properties");
    assert_eq!(found(&w, "basinger").await, vec!["kim".to_owned()]);
    // Disconnect: the account is manual and still found, and edited as one.
    w.dir.disconnect(w.org.id, "cli").await.expect("disconnect");
    assert_eq!(found(&w, "basinger").await, vec!["kim".to_owned()]);
    let mut attributes = Map::new();
    attributes.insert("displayName".into(), json!("Kim Renamed"));
    w.dir
        .edit_account(
            w.org.id,
            "cli",
            &id,
            AccountEdit {
                attributes,
                ..AccountEdit::default()
            },
        )
        .await
        .expect("manual edit");
    assert_eq!(found(&w, "renamed").await, vec!["kim".to_owned()]);
    // A SCIM delete retires an account (still listed, deactivated); the purge removes it.
    let gone = scim_person(
        &w,
        &person("lee", "Lee", "Remick", "Lee Remick", "lee@x.example"),
    )
    .await;
    w.scim
        .delete(
            w.org.id,
            ResourceKind::User,
            &gone,
            &Precondition::default(),
        )
        .await
        .expect("delete");
    assert_eq!(found(&w, "remick").await, vec!["lee".to_owned()]);
    w.clock.advance(Duration::days(31));
    w.dir.purge_retired().await.expect("purge");
    assert!(found(&w, "remick").await.is_empty(), "purged");
    assert!(
        found(&w, "le").await.is_empty(),
        "purged from the prefix path too"
    );
    assert_eq!(found(&w, "basinger").await, vec!["kim".to_owned()]);
}

/// A search with more matches than a page: every page says how many there are in all, and
/// the pages visit each match once; a search of nothing says none.
pub async fn account_search_counts_every_match_on_every_page(store: Arc<dyn Store>) {
    let w = World::new(store, OrgKind::Business).await;
    let mut wanted = Vec::new();
    for i in 0..7 {
        let name = format!("pager.{i}@example.com");
        scim_person(&w, &person(&name, "Page", "Turner", "Page Turner", &name)).await;
        wanted.push(name);
    }
    scim_person(
        &w,
        &person(
            "other@example.com",
            "Other",
            "One",
            "Other One",
            "other@example.com",
        ),
    )
    .await;
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = w
            .dir
            .list_accounts(
                w.org.id,
                &AccountQuery {
                    search: Some("PAGER".into()),
                    count: 3,
                    after: after.take(),
                    ..AccountQuery::default()
                },
            )
            .await
            .expect("search");
        pages += 1;
        assert_eq!(page.total, 7, "page {pages}");
        seen.extend(page.accounts.iter().map(|a| a.user_name().to_owned()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    seen.sort();
    wanted.sort();
    assert_eq!(seen, wanted);
    assert!(found(&w, "nobody-here").await.is_empty(), "a total of 0");
}

/// A search with more matches than [`SEARCH_COUNT_CAP`]: a store that `counts_exactly` says
/// how many; one that stops counting says "at least the cap". Either way every page holds the
/// next matches in order, and the walk visits each match once and nothing else; a narrower
/// search of the same accounts, within the cap, is counted exactly by both.
pub async fn account_search_past_the_count_cap_pages_every_match_once(
    store: Arc<dyn Store>, counts_exactly: bool,
) {
    use directory::store::{NewResource, SEARCH_COUNT_CAP};
    let w = World::new(store.clone(), OrgKind::Business).await;
    let matching = SEARCH_COUNT_CAP as usize + 30;
    let mut users = Vec::new();
    let mut wanted = Vec::new();
    for i in 0..matching {
        let name = format!("capped.{i}@example.com");
        users.push(person(&name, "Cap", "Walker", "Cap Walker", &name));
        wanted.push(name);
        if i % 3 == 0 {
            let other = format!("other.{i}@example.com");
            users.push(person(&other, "Other", "One", "Other One", &other));
        }
    }
    let users: Vec<NewResource> = users
        .into_iter()
        .map(|doc| NewResource {
            id: directory::ResourceId::new(),
            doc: crate::support::canonical(ResourceKind::User, &doc),
            now: T0,
            members: Vec::new(),
        })
        .collect();
    for outcome in store.create_users(w.org.id, &users).await.expect("batch") {
        outcome.expect("created");
    }
    let walk = |search: &'static str| {
        let w = &w;
        async move {
            let (mut seen, mut totals, mut after) = (Vec::new(), Vec::new(), None);
            loop {
                let query = AccountQuery {
                    search: Some(search.into()),
                    count: 200,
                    after: after.take(),
                    ..AccountQuery::default()
                };
                let page = w.dir.list_accounts(w.org.id, &query).await.expect("search");
                totals.push((page.total, page.total_exact));
                seen.extend(page.accounts.iter().map(|a| a.user_name().to_owned()));
                match page.next {
                    Some(next) => after = Some(next),
                    None => break (seen, totals),
                }
            }
        }
    };
    let (seen, totals) = walk("CAPPED.").await;
    assert_eq!(seen, wanted, "every match once, in order");
    let expected = if counts_exactly {
        (matching as u64, true)
    } else {
        (SEARCH_COUNT_CAP, false)
    };
    assert!(totals.iter().all(|t| *t == expected), "{totals:?}");
    assert_eq!(totals.len(), matching.div_ceil(200));
    // 1, 10-19, 100-199 and 1000-1029: within the cap, so counted exactly by both.
    let (seen, totals) = walk("capped.1").await;
    let narrow: Vec<&String> = wanted
        .iter()
        .filter(|n| n.starts_with("capped.1"))
        .collect();
    assert_eq!(seen.iter().collect::<Vec<_>>(), narrow);
    assert!(
        totals.iter().all(|t| *t == (narrow.len() as u64, true)),
        "{totals:?}"
    );
}
