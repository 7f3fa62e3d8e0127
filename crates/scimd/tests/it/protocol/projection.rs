//! Projection: `attributes` and `excludedAttributes` on every answer that carries resources.

use super::*;

#[tokio::test]
async fn attributes_and_excluded_attributes_shape_every_response() {
    let s = Server::start();
    let api = s.api();
    let mut body = user_body("shape@example.com");
    body["schemas"] = json!([USER_URN, ENTERPRISE_URN]);
    body[ENTERPRISE_URN] = json!({ "department": "R&D", "costCenter": "42" });
    body["password"] = json!("s3cret-Pass");
    body["emails"] = json!([
        { "value": "shape@example.com", "type": "work", "primary": true },
        { "value": "shape@home.example", "type": "home" }
    ]);
    let r = api.post("/Users?attributes=userName", &body).await;
    r.expect(201);
    assert_eq!(r.json()["userName"], json!("shape@example.com"));
    assert!(
        r.json().get("displayName").is_none(),
        "POST honours attributes: {}",
        r.text
    );
    let id = r.id();
    let get = |q: String| {
        let api = api.clone();
        let id = id.clone();
        async move {
            let r = api.get(&format!("/Users/{id}?{q}")).await;
            r.expect(200);
            r.json().clone()
        }
    };

    let u = get("attributes=userName".into()).await;
    assert_eq!(u["id"], json!(id));
    assert_eq!(u["userName"], json!("shape@example.com"));
    for absent in [
        "name",
        "emails",
        "displayName",
        "active",
        ENTERPRISE_URN,
        "password",
    ] {
        assert!(
            u.get(absent).is_none(),
            "attributes=userName returned {absent}: {u}"
        );
    }

    let u = get("attributes=name.givenName".into()).await;
    assert_eq!(u["name"], json!({ "givenName": "Given" }), "{u}");

    let u = get("attributes=emails.value".into()).await;
    assert_eq!(
        u["emails"],
        json!([{ "value": "shape@example.com" }, { "value": "shape@home.example" }]),
        "{u}"
    );

    let u = get(format!(
        "attributes={}",
        enc(&format!("{USER_URN}:userName"))
    ))
    .await;
    assert_eq!(u["userName"], json!("shape@example.com"));
    assert!(u.get("displayName").is_none(), "{u}");

    let u = get(format!(
        "attributes={}",
        enc(&format!("{ENTERPRISE_URN}:department"))
    ))
    .await;
    assert_eq!(u[ENTERPRISE_URN], json!({ "department": "R&D" }), "{u}");
    assert!(u.get("userName").is_none(), "{u}");

    let u = get("excludedAttributes=emails,name".into()).await;
    assert!(u.get("emails").is_none() && u.get("name").is_none(), "{u}");
    assert_eq!(u["userName"], json!("shape@example.com"));
    assert_eq!(u["active"], json!(true));
    assert_eq!(u[ENTERPRISE_URN]["costCenter"], json!("42"));

    let u = get("excludedAttributes=id,userName".into()).await;
    assert_eq!(u["id"], json!(id), "id is returned always: {u}");

    let u = get("attributes=password".into()).await;
    assert!(
        u.get("password").is_none(),
        "password is returned never: {u}"
    );
    let u = get(String::new()).await;
    assert!(
        u.get("password").is_none(),
        "password is returned never: {u}"
    );

    // Lists and searches.
    let r = api.get("/Users?attributes=userName,active").await;
    r.expect_list();
    for res in r.resources() {
        assert_eq!(
            keys(res)
                .intersection(&BTreeSet::from(["name".to_owned(), "emails".to_owned()]))
                .count(),
            0,
            "{res}"
        );
        assert_eq!(res["userName"], json!("shape@example.com"));
        assert_eq!(res["active"], json!(true));
        assert_eq!(res["id"], json!(id));
    }
    let r = api.get("/Users?excludedAttributes=emails").await;
    assert!(
        r.resources()[0].get("emails").is_none() && r.resources()[0]["userName"].is_string(),
        "{}",
        r.text
    );
    let r = api
        .post(
            "/Users/.search",
            &json!({ "schemas": [SEARCH_URN], "attributes": ["displayName"] }),
        )
        .await;
    r.expect_list();
    assert_eq!(r.resources()[0]["displayName"], json!("Given Family"));
    assert!(r.resources()[0].get("userName").is_none(), "{}", r.text);

    // PATCH and PUT responses too.
    let r = api
        .patch(
            &format!("/Users/{id}?attributes=title"),
            &patch_op(json!([{ "op": "replace", "path": "title", "value": "Shaper" }])),
        )
        .await;
    r.expect(200);
    assert_eq!(r.json()["title"], json!("Shaper"));
    assert!(r.json().get("userName").is_none(), "{}", r.text);

    // Group members are excluded on request, list and single.
    let gid = api.create_group("Shaped", &[&id]).await;
    let r = api
        .get(&format!("/Groups/{gid}?excludedAttributes=members"))
        .await;
    assert!(
        r.json().get("members").is_none() && r.json()["displayName"] == "Shaped",
        "{}",
        r.text
    );
    let r = api.get(&format!("/Groups/{gid}")).await;
    assert_eq!(member_values(r.json()), BTreeSet::from([id.clone()]));
    let r = api.get("/Groups?attributes=displayName").await;
    assert!(r.resources()[0].get("members").is_none(), "{}", r.text);
}
