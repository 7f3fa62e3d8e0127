//! ETags: `meta.version`, `If-Match` (412 when stale) and `If-None-Match` (304).

use super::*;

#[tokio::test]
async fn if_none_match_with_the_current_etag_is_304() {
    let s = Server::start();
    let api = s.api();
    let id = api.create_user("etag@example.com").await;
    let r = api.get(&format!("/Users/{id}")).await;
    r.expect(200);
    let etag = r.header("etag").expect("an ETag header").to_owned();
    assert_eq!(etag, version_of(r.json()));
    assert!(etag.starts_with("W/\"") && etag.ends_with('"'), "{etag}");

    let r = api
        .send(
            Method::GET,
            &format!("/Users/{id}"),
            None,
            &[("If-None-Match", &etag)],
        )
        .await;
    assert_eq!(r.status, 304, "{}", r.text);
    assert!(r.text.is_empty(), "304 carries no body");
    assert_eq!(r.header("etag"), Some(etag.as_str()));

    let r = api
        .send(
            Method::GET,
            &format!("/Users/{id}"),
            None,
            &[("If-None-Match", "W/\"no-such-version\"")],
        )
        .await;
    r.expect(200);

    api.patch(
        &format!("/Users/{id}"),
        &patch_op(json!([{ "op": "replace", "path": "title", "value": "New" }])),
    )
    .await
    .expect(200);
    let r = api
        .send(
            Method::GET,
            &format!("/Users/{id}"),
            None,
            &[("If-None-Match", &etag)],
        )
        .await;
    r.expect(200);
    assert_ne!(
        r.header("etag"),
        Some(etag.as_str()),
        "the version changes with the resource"
    );

    let gid = api.create_group("ETag group", &[]).await;
    let getag = api
        .get(&format!("/Groups/{gid}"))
        .await
        .header("etag")
        .expect("group ETag")
        .to_owned();
    let r = api
        .send(
            Method::GET,
            &format!("/Groups/{gid}"),
            None,
            &[("If-None-Match", &getag)],
        )
        .await;
    assert_eq!(r.status, 304);
}

#[tokio::test]
async fn stale_if_match_is_412_and_changes_nothing() {
    let s = Server::start();
    let api = s.api();
    let id = api.create_user("ifmatch@example.com").await;
    let path = format!("/Users/{id}");
    let stale = api
        .get(&path)
        .await
        .header("etag")
        .expect("ETag")
        .to_owned();
    api.patch(
        &path,
        &patch_op(json!([{ "op": "replace", "path": "title", "value": "First" }])),
    )
    .await
    .expect(200);
    let before = api.get(&path).await.json().clone();
    let current = version_of(&before);
    assert_ne!(current, stale);

    let r = api
        .send(
            Method::PATCH,
            &path,
            Some(&patch_op(
                json!([{ "op": "replace", "path": "title", "value": "Second" }]),
            )),
            &[("If-Match", &stale)],
        )
        .await;
    r.expect_error(412, None);
    let mut put = user_body("ifmatch@example.com");
    put["title"] = json!("Put");
    api.send(Method::PUT, &path, Some(&put), &[("If-Match", &stale)])
        .await
        .expect_error(412, None);
    api.send(Method::DELETE, &path, None, &[("If-Match", &stale)])
        .await
        .expect_error(412, None);
    assert_eq!(
        api.get(&path).await.json(),
        &before,
        "a refused conditional write changed the user"
    );

    // The current version is accepted.
    let r = api
        .send(
            Method::PATCH,
            &path,
            Some(&patch_op(
                json!([{ "op": "replace", "path": "title", "value": "Second" }]),
            )),
            &[("If-Match", &current)],
        )
        .await;
    r.expect(200);
    let newer = r.header("etag").expect("ETag").to_owned();
    api.send(Method::PUT, &path, Some(&put), &[("If-Match", &newer)])
        .await
        .expect(200);
    let newest = api
        .get(&path)
        .await
        .header("etag")
        .expect("ETag")
        .to_owned();
    api.send(Method::DELETE, &path, None, &[("If-Match", &newest)])
        .await
        .expect(204);
    api.get(&path).await.expect_error(404, None);

    // Groups too.
    let gid = api.create_group("Conditional", &[]).await;
    let gpath = format!("/Groups/{gid}");
    let stale = api
        .get(&gpath)
        .await
        .header("etag")
        .expect("ETag")
        .to_owned();
    api.patch(
        &gpath,
        &patch_op(json!([{ "op": "replace", "path": "displayName", "value": "Renamed" }])),
    )
    .await
    .expect(204);
    let r = api
        .send(
            Method::PATCH,
            &gpath,
            Some(&patch_op(
                json!([{ "op": "replace", "path": "displayName", "value": "Stale" }]),
            )),
            &[("If-Match", &stale)],
        )
        .await;
    r.expect_error(412, None);
    assert_eq!(
        api.get(&gpath).await.json()["displayName"],
        json!("Renamed")
    );
}
