//! Representation: what a stored resource looks like when read back.

use super::*;

#[tokio::test]
async fn every_rfc_7643_user_attribute_round_trips() {
    let s = Server::start();
    let api = s.api();
    let boss = api.create_user("boss@example.com").await;
    let core = json!({
        "externalId": "ext-Full-1",
        "userName": "full@example.com",
        "name": {
            "formatted": "Dr. Rosalind E. Franklin, PhD",
            "familyName": "Franklin",
            "givenName": "Rosalind",
            "middleName": "Elsie",
            "honorificPrefix": "Dr.",
            "honorificSuffix": "PhD"
        },
        "displayName": "Rosalind Franklin",
        "nickName": "Ros",
        "profileUrl": "https://people.example.com/rfranklin",
        "title": "Crystallographer",
        "userType": "Researcher",
        "preferredLanguage": "en-GB",
        "locale": "en-GB",
        "timezone": "Europe/London",
        "active": true,
        "emails": [
            { "value": "rfranklin@example.com", "type": "work", "primary": true },
            { "value": "ros@home.example", "type": "home" }
        ],
        "phoneNumbers": [
            { "value": "+44 20 7946 0000", "type": "work" },
            { "value": "(020) 7946-0001", "type": "mobile" }
        ],
        "ims": [{ "value": "ros.franklin", "type": "xmpp" }],
        "photos": [{ "value": "https://photos.example.com/rfranklin.jpg", "type": "photo" }],
        "addresses": [{
            "type": "work",
            "streetAddress": "1 Lab Lane",
            "locality": "London",
            "region": "Greater London",
            "postalCode": "WC2R 2LS",
            "country": "GB",
            "formatted": "1 Lab Lane\nLondon WC2R 2LS\nGB",
            "primary": true
        }],
        "entitlements": [{ "value": "Lab access" }],
        "roles": [{ "value": "Researcher", "display": "Researcher", "type": "job", "primary": false }],
        "x509Certificates": [{ "value": "TUlJQ2RqQ0NBZDZnQXdJQkFnSUJBREFO" }]
    });
    let enterprise = json!({
        "employeeNumber": "1920",
        "costCenter": "X-Ray",
        "organization": "King's College",
        "division": "Biophysics",
        "department": "Structure"
    });
    let mut body = core.clone();
    body["schemas"] = json!([USER_URN, ENTERPRISE_URN]);
    body["password"] = json!("Photo51!");
    body[ENTERPRISE_URN] = enterprise.clone();
    body[ENTERPRISE_URN]["manager"] = json!({ "value": boss });
    let id = api.create_user_from(&body).await.id();
    let user = api.get(&format!("/Users/{id}")).await.json().clone();
    for (key, sent) in core.as_object().expect("object") {
        assert_eq!(&user[key], sent, "{key} did not come back as sent: {user}");
    }
    for (key, sent) in enterprise.as_object().expect("object") {
        assert_eq!(
            &user[ENTERPRISE_URN][key], sent,
            "{key} did not come back as sent: {user}"
        );
    }
    assert_eq!(user[ENTERPRISE_URN]["manager"]["value"], json!(boss));
    assert!(user.get("password").is_none());
    let schemas: BTreeSet<&str> = user["schemas"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(schemas, BTreeSet::from([USER_URN, ENTERPRISE_URN]));
}

/// Local properties (the default role `staff` or `student`, locations, grade) belong to the
/// organisation and are never sent back over SCIM.
#[tokio::test]
async fn local_properties_are_never_returned_over_scim() {
    let s = Server::start();
    let school = s.org_of_kind("school");
    for api in [s.api(), s.api_as(&school)] {
        let r = api.post("/Users", &user_body("local@example.com")).await;
        r.expect(201);
        assert!(r.json().get("roles").is_none(), "{}", r.text);
        let id = r.id();
        let user = api.get(&format!("/Users/{id}")).await.json().clone();
        assert!(
            user.get("roles").is_none(),
            "a local role leaked into SCIM: {user}"
        );
        let mut with_roles = user_body("roles@example.com");
        with_roles["roles"] = json!([{ "value": "Teacher" }]);
        let r = api.post("/Users", &with_roles).await;
        r.expect(201);
        assert_eq!(
            r.json()["roles"],
            json!([{ "value": "Teacher" }]),
            "{}",
            r.text
        );
    }
}

#[tokio::test]
async fn attribute_names_are_case_insensitive() {
    let s = Server::start();
    let api = s.api();
    let r = api
        .post(
            "/Users",
            &json!({
                "SCHEMAS": [USER_URN],
                "USERNAME": "caps@example.com",
                "Name": { "GivenName": "Cap", "FAMILYNAME": "Locks" },
                "Emails": [{ "VALUE": "caps@example.com", "Type": "work" }],
                "ACTIVE": true
            }),
        )
        .await;
    r.expect(201);
    let id = r.id();
    let user = api.get(&format!("/Users/{id}")).await.json().clone();
    assert_eq!(user["userName"], json!("caps@example.com"), "{user}");
    assert_eq!(user["name"]["givenName"], json!("Cap"), "{user}");
    assert_eq!(user["name"]["familyName"], json!("Locks"), "{user}");
    assert_eq!(
        user["emails"][0]["value"],
        json!("caps@example.com"),
        "{user}"
    );
    assert_eq!(user["active"], json!(true), "{user}");
    assert!(
        user.get("USERNAME").is_none() && user.get("Name").is_none(),
        "canonical names only: {user}"
    );

    let r = api
        .patch(
            &format!("/Users/{id}"),
            &json!({
                "SCHEMAS": [PATCH_URN],
                "operations": [
                    { "OP": "REPLACE", "PATH": "NAME.FAMILYNAME", "VALUE": "Keys" },
                    { "op": "add", "path": "EMAILS[TYPE EQ \"work\"].VALUE", "value": "keys@example.com" }
                ]
            }),
        )
        .await;
    r.expect(200);
    let user = api.get(&format!("/Users/{id}")).await.json().clone();
    assert_eq!(user["name"]["familyName"], json!("Keys"), "{user}");
    assert_eq!(
        user["emails"][0]["value"],
        json!("keys@example.com"),
        "{user}"
    );
    assert_eq!(
        select(&api, "NAME.FAMILYNAME eq \"Keys\"").await,
        BTreeSet::from([id])
    );
}

#[tokio::test]
async fn patch_setting_a_new_primary_clears_the_old_one() {
    let s = Server::start();
    let api = s.api();
    let id = api.create_user("primary@example.com").await;
    let r = api
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{ "op": "add", "path": "emails", "value": [{ "value": "new@example.com", "type": "home", "primary": true }] }])),
        )
        .await;
    r.expect(200);
    let user = api.get(&format!("/Users/{id}")).await.json().clone();
    let emails = user["emails"].as_array().cloned().unwrap_or_default();
    assert_eq!(emails.len(), 2, "{user}");
    let primaries: Vec<&str> = emails
        .iter()
        .filter(|e| e["primary"] == json!(true))
        .filter_map(|e| e["value"].as_str())
        .collect();
    assert_eq!(
        primaries,
        vec!["new@example.com"],
        "at most one primary: {user}"
    );
}

#[tokio::test]
async fn replacing_or_removing_all_members_empties_the_group() {
    let s = Server::start();
    let api = s.api();
    let a = api.create_user("a@example.com").await;
    let b = api.create_user("b@example.com").await;
    let g = api.create_group("Emptied", &[&a, &b]).await;
    api.patch(
        &format!("/Groups/{g}"),
        &patch_op(json!([{ "op": "replace", "path": "members", "value": [] }])),
    )
    .await
    .expect(204);
    assert_eq!(api.member_ids(&g).await, BTreeSet::new());
    api.patch(
        &format!("/Groups/{g}"),
        &patch_op(
            json!([{ "op": "add", "path": "members", "value": [{ "value": a }, { "value": b }] }]),
        ),
    )
    .await
    .expect(204);
    assert_eq!(
        api.member_ids(&g).await,
        BTreeSet::from([a.clone(), b.clone()])
    );
    api.patch(
        &format!("/Groups/{g}"),
        &patch_op(json!([{ "op": "remove", "path": "members" }])),
    )
    .await
    .expect(204);
    assert_eq!(api.member_ids(&g).await, BTreeSet::new());
    // The users are untouched.
    api.get(&format!("/Users/{a}")).await.expect(200);
    api.get(&format!("/Users/{b}")).await.expect(200);
}
