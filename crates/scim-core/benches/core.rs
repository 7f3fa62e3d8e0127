//! The three scim-core steps on every Entra provisioning request: parsing its filter,
//! normalising its POST body, and applying its PATCH.

use criterion::{Criterion, criterion_group, criterion_main};
use scim_core::filter::parse_filter;
use scim_core::patch::{apply_patch, parse_patch};
use scim_core::resource::normalize;
use scim_core::schema::ResourceKind;
use serde_json::{Value, json};
use std::hint::black_box;

fn entra_post_body() -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@testuser.com",
        "active": true,
        "displayName": "Test User",
        "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "department": "Tour Operations",
            "costCenter": "4130",
            "division": "Theme Park"
        }
    })
}

fn entra_patch_body() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            {"op": "Replace", "path": "active", "value": "False"}
        ]
    })
}

fn bench(c: &mut Criterion) {
    let filter = "userName eq \"Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@testuser.com\"";
    c.bench_function("parse_filter entra userName eq", |b| {
        b.iter(|| parse_filter(black_box(filter), ResourceKind::User))
    });

    let body = entra_post_body();
    c.bench_function("normalize entra POST /Users", |b| {
        b.iter(|| normalize(ResourceKind::User, black_box(&body)))
    });

    let doc = match normalize(ResourceKind::User, &body) {
        Ok(n) => n.doc,
        Err(e) => panic!("fixture: {e}"),
    };
    let patch = entra_patch_body();
    c.bench_function("parse+apply entra PATCH /Users", |b| {
        b.iter(|| {
            parse_patch(ResourceKind::User, black_box(&patch))
                .and_then(|ops| apply_patch(ResourceKind::User, black_box(&doc), &ops))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
