//! Sorting and filters: the whole RFC 7644 section 3.4.2 grammar.

use super::*;

#[tokio::test]
async fn sort_by_and_sort_order_order_lists() {
    let s = Server::start();
    let api = s.api();
    let mut ids = std::collections::HashMap::new();
    for (user_name, family) in [
        ("charlie@example.com", "Able"),
        ("alice@example.com", "Cole"),
        ("Bob@example.com", "Baker"),
    ] {
        let mut body = user_body(user_name);
        body["name"]["familyName"] = json!(family);
        ids.insert(user_name, api.create_user_from(&body).await.id());
    }
    let names = |r: &Reply| -> Vec<String> {
        r.resources()
            .iter()
            .map(|u| u["userName"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let r = api.get("/Users?sortBy=userName").await;
    r.expect_list();
    assert_eq!(
        names(&r),
        [
            "alice@example.com",
            "Bob@example.com",
            "charlie@example.com"
        ],
        "userName is caseExact false"
    );
    let r = api.get("/Users?sortBy=userName&sortOrder=descending").await;
    assert_eq!(
        names(&r),
        [
            "charlie@example.com",
            "Bob@example.com",
            "alice@example.com"
        ]
    );
    let r = api
        .get("/Users?sortBy=name.familyName&sortOrder=ascending")
        .await;
    assert_eq!(
        names(&r),
        [
            "charlie@example.com",
            "Bob@example.com",
            "alice@example.com"
        ]
    );
    let r = api.get("/Users?sortBy=userName&count=2&startIndex=2").await;
    assert_eq!(names(&r), ["Bob@example.com", "charlie@example.com"]);
    let r = api
        .post("/Users/.search", &json!({ "schemas": [SEARCH_URN], "sortBy": "name.familyName", "sortOrder": "descending" }))
        .await;
    r.expect_list();
    assert_eq!(
        names(&r),
        [
            "alice@example.com",
            "Bob@example.com",
            "charlie@example.com"
        ]
    );

    for name in ["Zulu", "alpha", "Mike"] {
        api.create_group(name, &[]).await;
    }
    let r = api
        .get("/Groups?sortBy=displayName&sortOrder=descending&excludedAttributes=members")
        .await;
    let groups: Vec<&str> = r
        .resources()
        .iter()
        .filter_map(|g| g["displayName"].as_str())
        .collect();
    assert_eq!(groups, ["Zulu", "Mike", "alpha"]);
}

#[tokio::test]
async fn filter_grammar_selects_the_right_users() {
    let s = Server::start();
    let api = s.api();
    let ann = api
        .create_user_from(&json!({
            "schemas": [USER_URN, ENTERPRISE_URN],
            "userName": "ann@example.com",
            "externalId": "AbC-1",
            "title": "Engineer",
            "name": { "familyName": "Archer", "givenName": "Ann" },
            "emails": [{ "type": "work", "value": "ann@example.com" }, { "type": "home", "value": "ann@home.example" }],
            "active": true,
            ENTERPRISE_URN: { "department": "R&D" }
        }))
        .await
        .id();
    let bob = api
        .create_user_from(&json!({
            "schemas": [USER_URN, ENTERPRISE_URN],
            "userName": "bob@example.org",
            "title": "Manager",
            "name": { "familyName": "Baker", "givenName": "Bob" },
            "emails": [{ "type": "work", "value": "bob@example.org" }],
            "active": false,
            ENTERPRISE_URN: { "department": "Sales" }
        }))
        .await
        .id();
    let cy = api
        .create_user_from(&json!({
            "schemas": [USER_URN],
            "userName": "cy@sample.net",
            "name": { "familyName": "Cole", "givenName": "Cy" },
            "emails": [{ "type": "home", "value": "cy@home.example" }],
            "active": true
        }))
        .await
        .id();
    let set = |ids: &[&String]| -> BTreeSet<String> { ids.iter().map(|s| (*s).clone()).collect() };
    let cases: Vec<(&str, BTreeSet<String>)> = vec![
        ("userName sw \"ann\"", set(&[&ann])),
        ("userName ew \".org\"", set(&[&bob])),
        ("userName co \"example\"", set(&[&ann, &bob])),
        ("userName ne \"ann@example.com\"", set(&[&bob, &cy])),
        ("title pr", set(&[&ann, &bob])),
        ("not (title pr)", set(&[&cy])),
        ("title eq \"engineer\"", set(&[&ann])),
        ("active eq false", set(&[&bob])),
        ("emails[type eq \"home\"]", set(&[&ann, &cy])),
        (
            "emails[type eq \"work\" and value ew \".org\"]",
            set(&[&bob]),
        ),
        ("emails.value co \"home.example\"", set(&[&ann, &cy])),
        (
            "title eq \"Engineer\" or title eq \"Manager\"",
            set(&[&ann, &bob]),
        ),
        ("(active eq true) and (title pr)", set(&[&ann])),
        (
            "userName eq \"nobody\" or not (userName eq \"nobody\") and active eq false",
            set(&[&bob]),
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"Sales\"",
            set(&[&bob]),
        ),
        (
            "urn:ietf:params:scim:schemas:core:2.0:User:userName eq \"cy@sample.net\"",
            set(&[&cy]),
        ),
        ("name.familyName gt \"B\"", set(&[&bob, &cy])),
        ("name.familyName le \"Baker\"", set(&[&ann, &bob])),
        ("USERNAME EQ \"ANN@EXAMPLE.COM\"", set(&[&ann])),
        ("externalId eq \"AbC-1\"", set(&[&ann])),
        ("externalId eq \"abc-1\"", set(&[])),
        (
            "meta.created gt \"2000-01-01T00:00:00Z\"",
            set(&[&ann, &bob, &cy]),
        ),
        ("meta.created lt \"2000-01-01T00:00:00Z\"", set(&[])),
    ];
    for (expr, expected) in cases {
        assert_eq!(select(&api, expr).await, expected, "filter `{expr}`");
    }
    assert_eq!(
        select(&api, &format!("id eq \"{bob}\"")).await,
        set(&[&bob])
    );
    assert_eq!(
        select(&api, &format!("id eq \"{ann}\" or id eq \"{cy}\"")).await,
        set(&[&ann, &cy])
    );
}
