//! Bulk (RFC 7644 section 3.7): `bulkId` references, `failOnErrors`, limits.

use super::*;

#[tokio::test]
async fn bulk_resolves_bulk_id_references() {
    let s = Server::start();
    let api = s.api();
    let r = api
        .post(
            "/Bulk",
            &json!({
                "schemas": [BULK_REQUEST_URN],
                "Operations": [
                    { "method": "POST", "path": "/Users", "bulkId": "u1", "data": user_body("bulk1@example.com") },
                    { "method": "POST", "path": "/Groups", "bulkId": "g1",
                      "data": { "schemas": [GROUP_URN], "displayName": "Bulk group", "members": [{ "type": "User", "value": "bulkId:u1" }] } }
                ]
            }),
        )
        .await;
    r.expect(200);
    let body = r.json();
    assert_eq!(body["schemas"], json!([BULK_RESPONSE_URN]), "{body}");
    let ops = body["Operations"].as_array().expect("Operations");
    assert_eq!(ops.len(), 2, "{body}");
    for (op, bulk_id, endpoint) in [(&ops[0], "u1", "Users"), (&ops[1], "g1", "Groups")] {
        assert_eq!(op["status"], json!("201"), "{op}");
        assert_eq!(op["method"], json!("POST"), "{op}");
        assert_eq!(op["bulkId"], json!(bulk_id), "{op}");
        let location = op["location"].as_str().expect("location");
        assert!(
            location.starts_with(&format!("{}/{endpoint}/", s.base)),
            "{location}"
        );
    }
    let user_id = ops[0]["location"]
        .as_str()
        .and_then(|l| l.rsplit('/').next())
        .expect("user id")
        .to_owned();
    let group_loc = ops[1]["location"]
        .as_str()
        .expect("group location")
        .to_owned();
    let r = api.get(&group_loc).await;
    r.expect(200);
    assert_eq!(member_values(r.json()), BTreeSet::from([user_id.clone()]));
    let user = api.get(&format!("/Users/{user_id}")).await.json().clone();
    assert_eq!(user["userName"], json!("bulk1@example.com"));

    // A reference to a bulkId that comes later in the request also resolves.
    let r = api
        .post(
            "/Bulk",
            &json!({
                "schemas": [BULK_REQUEST_URN],
                "Operations": [
                    { "method": "POST", "path": "/Groups", "bulkId": "g2",
                      "data": { "schemas": [GROUP_URN], "displayName": "Forward", "members": [{ "value": "bulkId:u2" }] } },
                    { "method": "POST", "path": "/Users", "bulkId": "u2", "data": user_body("bulk2@example.com") }
                ]
            }),
        )
        .await;
    r.expect(200);
    let ops = r.json()["Operations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(ops.len(), 2, "{}", r.text);
    assert!(ops.iter().all(|o| o["status"] == "201"), "{}", r.text);
}

#[tokio::test]
async fn bulk_fail_on_errors_stops_after_the_first_error() {
    let s = Server::start();
    let api = s.api();
    let ops = json!([
        { "method": "POST", "path": "/Users", "bulkId": "a", "data": user_body("first@example.com") },
        { "method": "POST", "path": "/Users", "bulkId": "b", "data": { "schemas": [USER_URN], "displayName": "no userName" } },
        { "method": "POST", "path": "/Users", "bulkId": "c", "data": user_body("third@example.com") }
    ]);
    let r = api
        .post(
            "/Bulk",
            &json!({ "schemas": [BULK_REQUEST_URN], "failOnErrors": 1, "Operations": ops }),
        )
        .await;
    r.expect(200);
    let results = r.json()["Operations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        results.len(),
        2,
        "processing stops after the first error: {}",
        r.text
    );
    assert_eq!(results[0]["status"], json!("201"));
    assert_eq!(results[1]["status"], json!("400"));
    assert_eq!(
        results[1]["response"]["status"],
        json!("400"),
        "{}",
        results[1]
    );
    assert_eq!(
        results[1]["response"]["schemas"],
        json!([ERROR_URN]),
        "{}",
        results[1]
    );
    assert_eq!(
        select(&api, "userName eq \"third@example.com\"").await,
        BTreeSet::new()
    );
    assert_eq!(api.user_count().await, 1);

    // Without failOnErrors every operation runs.
    let ops = json!([
        { "method": "POST", "path": "/Users", "bulkId": "d", "data": { "schemas": [USER_URN], "displayName": "no userName" } },
        { "method": "POST", "path": "/Users", "bulkId": "e", "data": user_body("fifth@example.com") }
    ]);
    let r = api
        .post(
            "/Bulk",
            &json!({ "schemas": [BULK_REQUEST_URN], "Operations": ops }),
        )
        .await;
    r.expect(200);
    let results = r.json()["Operations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(results.len(), 2, "{}", r.text);
    assert_eq!(results[0]["status"], json!("400"));
    assert_eq!(results[1]["status"], json!("201"));
    assert_eq!(api.user_count().await, 2);
}

#[tokio::test]
async fn bulk_with_more_than_max_operations_is_413() {
    let s = Server::start();
    let api = s.api();
    let max = api.get("/ServiceProviderConfig").await.json()["bulk"]["maxOperations"]
        .as_u64()
        .expect("maxOperations");
    let ops: Vec<Value> = (0..=max)
        .map(|i| json!({ "method": "POST", "path": "/Users", "bulkId": format!("b{i}"), "data": { "userName": format!("u{i}@e.x") } }))
        .collect();
    let r = api
        .post(
            "/Bulk",
            &json!({ "schemas": [BULK_REQUEST_URN], "Operations": ops }),
        )
        .await;
    r.expect_error(413, None);
    assert_eq!(
        api.user_count().await,
        0,
        "nothing of a refused Bulk request is applied"
    );
}
