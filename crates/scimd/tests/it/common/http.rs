//! Talking to a server over HTTP: one [`Reply`] per request, a [`Client`] bound to a server,
//! an [`Api`] bound to one organisation's token, and body helpers.

#![allow(dead_code)]

use super::*;
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

/// One HTTP response, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub method: Method,
    pub url: String,
    pub status: u16,
    pub headers: HeaderMap,
    /// The body parsed as JSON, when there is a body and it is JSON.
    pub body: Option<Value>,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    fn describe(&self) -> String {
        format!(
            "{} {} -> {} {}",
            self.method, self.url, self.status, self.text
        )
    }

    /// The JSON body; panics when there is none.
    #[track_caller]
    pub fn json(&self) -> &Value {
        self.body
            .as_ref()
            .unwrap_or_else(|| panic!("no JSON body: {}", self.describe()))
    }

    /// Asserts the status, and `application/scim+json` whenever there is a body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Reply {
        assert_eq!(
            self.status,
            status,
            "unexpected status: {}",
            self.describe()
        );
        if !self.text.is_empty() {
            assert!(
                self.content_type().starts_with(SCIM_JSON),
                "Content-Type '{}' is not {SCIM_JSON}: {}",
                self.content_type(),
                self.describe()
            );
        }
        self
    }

    /// Asserts a SCIM error response: the status, the media type, the Error schema, `status`
    /// as a string, and the `scimType` (`None`: no particular one is asserted).
    #[track_caller]
    pub fn expect_error(&self, status: u16, scim_type: Option<&str>) -> &Value {
        self.expect(status);
        let body = self.json();
        assert_eq!(
            body["schemas"],
            json!([ERROR_URN]),
            "not a SCIM error: {}",
            self.describe()
        );
        assert_eq!(
            body["status"],
            json!(status.to_string()),
            "status must be a string: {}",
            self.describe()
        );
        if let Some(t) = scim_type {
            assert_eq!(
                body["scimType"],
                json!(t),
                "wrong scimType: {}",
                self.describe()
            );
        }
        body
    }

    /// Asserts a 200 ListResponse and returns its body.
    #[track_caller]
    pub fn expect_list(&self) -> &Value {
        self.expect(200);
        let body = self.json();
        assert_eq!(
            body["schemas"],
            json!([LIST_URN]),
            "not a ListResponse: {}",
            self.describe()
        );
        assert!(
            body["Resources"].is_array(),
            "Resources is not an array: {}",
            self.describe()
        );
        body
    }

    /// The `Resources` of a ListResponse.
    #[track_caller]
    pub fn resources(&self) -> &Vec<Value> {
        self.json()["Resources"]
            .as_array()
            .unwrap_or_else(|| panic!("no Resources: {}", self.describe()))
    }

    /// `totalResults` of a ListResponse, which must be an integer.
    #[track_caller]
    pub fn total(&self) -> u64 {
        self.json()["totalResults"]
            .as_u64()
            .unwrap_or_else(|| panic!("totalResults is not an integer: {}", self.describe()))
    }

    /// The `id` of the resource in the body.
    #[track_caller]
    pub fn id(&self) -> String {
        self.json()["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id: {}", self.describe()))
            .to_owned()
    }

    /// The ids of the `Resources` of a ListResponse, in order.
    #[track_caller]
    pub fn resource_ids(&self) -> Vec<String> {
        self.resources()
            .iter()
            .map(|r| {
                r["id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("resource without id: {r}"))
                    .to_owned()
            })
            .collect()
    }
}

/// An HTTP client bound to one server; every request carries `Authorization: Bearer` and
/// `Content-Type: application/scim+json`.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    pub origin: String,
    pub base: String,
}

impl Client {
    pub fn new(origin: &str, base: &str) -> Client {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .build()
            .expect("build an HTTP client");
        Client {
            http,
            origin: origin.to_owned(),
            base: base.to_owned(),
        }
    }

    /// `path` is relative to the SCIM base (`/Users?...`), or an absolute URL.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(Method::GET, path, None, token, &[]).await
    }

    pub async fn post(&self, path: &str, body: &Value, token: &str) -> Reply {
        self.send(Method::POST, path, Some(body), token, &[]).await
    }

    pub async fn put(&self, path: &str, body: &Value, token: &str) -> Reply {
        self.send(Method::PUT, path, Some(body), token, &[]).await
    }

    pub async fn patch(&self, path: &str, body: &Value, token: &str) -> Reply {
        self.send(Method::PATCH, path, Some(body), token, &[]).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.send(Method::DELETE, path, None, token, &[]).await
    }

    /// A request with a JSON body (or none) and extra headers.
    pub async fn send(
        &self, method: Method, path: &str, body: Option<&Value>, token: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let bytes = body.map(|b| serde_json::to_vec(b).expect("serialise the body"));
        self.send_bytes(
            method,
            &self.url(path),
            bytes,
            Some(token),
            SCIM_JSON,
            headers,
        )
        .await
    }

    /// The lowest level: a full URL, raw body bytes, an optional bearer token and any
    /// content type and headers.
    pub async fn send_bytes(
        &self, method: Method, url: &str, body: Option<Vec<u8>>, token: Option<&str>,
        content_type: &str, headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self
            .http
            .request(method.clone(), url)
            .header("Accept", SCIM_JSON)
            .header("Content-Type", content_type);
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url} failed: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: reading the body failed: {e}"));
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = if bytes.is_empty() {
            None
        } else {
            serde_json::from_slice(&bytes).ok()
        };
        Reply {
            method,
            url: url.to_owned(),
            status,
            headers,
            body,
            text,
        }
    }
}

/// A [`Client`] together with one organisation's token.
#[derive(Debug, Clone)]
pub struct Api {
    pub client: Client,
    pub token: String,
}

impl Api {
    pub async fn get(&self, path: &str) -> Reply {
        self.client.get(path, &self.token).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.client.post(path, body, &self.token).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.client.put(path, body, &self.token).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.client.patch(path, body, &self.token).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.client.delete(path, &self.token).await
    }

    /// A request with extra headers (`If-Match`, ...).
    pub async fn send(
        &self, method: Method, path: &str, body: Option<&Value>, headers: &[(&str, &str)],
    ) -> Reply {
        self.client
            .send(method, path, body, &self.token, headers)
            .await
    }

    /// A request with a raw body and content type.
    pub async fn send_raw(
        &self, method: Method, path: &str, body: Vec<u8>, content_type: &str,
    ) -> Reply {
        let url = self.client.url(path);
        self.client
            .send_bytes(
                method,
                &url,
                Some(body),
                Some(&self.token),
                content_type,
                &[],
            )
            .await
    }

    /// Creates a user from `body`, asserting 201, and returns the response.
    pub async fn create_user_from(&self, body: &Value) -> Reply {
        let r = self.post("/Users", body).await;
        r.expect(201);
        r
    }

    /// Creates a plain user and returns its id.
    pub async fn create_user(&self, user_name: &str) -> String {
        let r = self.post("/Users", &user_body(user_name)).await;
        r.expect(201);
        r.id()
    }

    /// Creates a group with these member ids and returns its id.
    pub async fn create_group(&self, display_name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|m| json!({ "value": m })).collect();
        let r = self
            .post(
                "/Groups",
                &json!({ "schemas": [GROUP_URN], "displayName": display_name, "members": members }),
            )
            .await;
        r.expect(201);
        r.id()
    }

    /// The member ids of a group (read with `attributes=members`).
    pub async fn member_ids(&self, group_id: &str) -> BTreeSet<String> {
        let r = self
            .get(&format!("/Groups/{group_id}?attributes=members"))
            .await;
        r.expect(200);
        member_values(r.json())
    }

    /// `totalResults` of an unfiltered user list.
    pub async fn user_count(&self) -> u64 {
        let r = self.get("/Users?count=0").await;
        r.expect_list();
        r.total()
    }
}

/// The `value`s of a resource's `members`.
pub fn member_values(resource: &Value) -> BTreeSet<String> {
    resource["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A typical user body.
pub fn user_body(user_name: &str) -> Value {
    json!({
        "schemas": [USER_URN],
        "userName": user_name,
        "name": { "givenName": "Given", "familyName": "Family", "formatted": "Given Family" },
        "displayName": "Given Family",
        "emails": [{ "value": user_name, "type": "work", "primary": true }],
        "active": true
    })
}

/// A PatchOp message with these operations.
pub fn patch_op(operations: Value) -> Value {
    json!({ "schemas": [PATCH_URN], "Operations": operations })
}

/// The number in a `W/"n"` ETag / `meta.version`.
#[track_caller]
pub fn version_of(resource: &Value) -> String {
    resource["meta"]["version"]
        .as_str()
        .unwrap_or_else(|| panic!("no meta.version in {resource}"))
        .to_owned()
}

// ---- A real SMTP server for the mail tests (`mailin-embedded` on loopback).
