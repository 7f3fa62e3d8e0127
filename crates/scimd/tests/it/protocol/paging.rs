//! Index and cursor paging (RFC 7644 section 3.4.2.4, RFC 9865).

use super::*;

#[tokio::test]
async fn count_zero_returns_only_the_total() {
    let s = Server::start();
    let api = s.api();
    for i in 0..3 {
        api.create_user(&format!("count{i}@example.com")).await;
    }
    let r = api.get("/Users?count=0").await;
    let body = r.expect_list();
    assert_eq!(body["totalResults"], json!(3));
    assert_eq!(body["Resources"], json!([]));
    let r = api.get("/Users?startIndex=0&count=2").await;
    let body = r.expect_list();
    assert_eq!(body["startIndex"], json!(1), "startIndex below 1 is 1");
    assert_eq!(r.resources().len(), 2);
}

#[tokio::test]
async fn cursor_paging_visits_every_user_exactly_once() {
    let s = Server::start();
    let api = s.api();
    let mut created = HashSet::new();
    for i in 0..35 {
        created.insert(api.create_user(&format!("cursor{i:02}@example.com")).await);
    }
    let mut seen = Vec::new();
    let mut url = "/Users?cursor=&count=10".to_owned();
    let mut pages = 0;
    loop {
        let r = api.get(&url).await;
        let body = r.expect_list().clone();
        pages += 1;
        assert!(pages <= 4, "too many pages");
        if let Some(total) = body.get("totalResults") {
            assert_eq!(total, &json!(35));
        }
        let ids = r.resource_ids();
        assert_eq!(body["itemsPerPage"], json!(ids.len()));
        seen.extend(ids.iter().cloned());
        match body.get("nextCursor").and_then(Value::as_str) {
            Some(next) => {
                assert_eq!(ids.len(), 10, "a page with a nextCursor is full");
                assert!(!next.is_empty());
                assert!(
                    next.bytes().all(
                        |b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
                    ),
                    "cursors use unreserved characters only: {next}"
                );
                url = format!("/Users?cursor={next}&count=10");
            }
            None => {
                assert_eq!(ids.len(), 5, "the last page");
                break;
            }
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(seen.len(), 35);
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), created);

    // The same through a SearchRequest.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = api
            .post(
                "/Users/.search",
                &json!({ "schemas": [SEARCH_URN], "cursor": cursor, "count": 20 }),
            )
            .await;
        r.expect_list();
        seen.extend(r.resource_ids());
        match r.json().get("nextCursor").and_then(Value::as_str) {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 35);
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), created);
}

#[tokio::test]
async fn garbage_cursor_is_400_invalid_cursor() {
    let s = Server::start();
    let api = s.api();
    for i in 0..3 {
        api.create_user(&format!("garbage{i}@example.com")).await;
    }
    for cursor in ["garbage", "AAAAAAAAAAAAAAAA", "0", "zzzz-zzzz"] {
        let r = api.get(&format!("/Users?cursor={cursor}&count=2")).await;
        r.expect_error(400, Some("invalidCursor"));
    }
    // A real cursor with one character changed is no better.
    let r = api.get("/Users?cursor=&count=1").await;
    let next = r.json()["nextCursor"]
        .as_str()
        .expect("nextCursor")
        .to_owned();
    let mut forged: Vec<char> = next.chars().collect();
    let i = forged.len() / 2;
    forged[i] = if forged[i] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    let r = api
        .get(&format!("/Users?cursor={}&count=1", enc(&forged)))
        .await;
    assert!(r.status == 400 || r.status == 200, "{}", r.text);
    if r.status == 400 {
        r.expect_error(400, Some("invalidCursor"));
    }
}
