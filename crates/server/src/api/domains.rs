//! An organisation's e-mail domains: listed, added, verified by their DNS record, removed.

use super::*;

fn domain_json(d: &DomainRecord) -> Value {
    json!({
        "name": d.name,
        "txtRecord": { "name": d.name, "type": "TXT", "value": d.txt },
        "created": ts(d.created),
        "verified": d.verified.map(ts),
        "verifiedBy": d.verified_by,
    })
}

pub(super) async fn list_domains(
    State(state): State<Arc<AppState>>, admin: Admin,
) -> Result<Json<Value>, ApiError> {
    let list = state.directory.list_domains(admin.org()).await?;
    Ok(Json(
        json!({ "domains": list.iter().map(domain_json).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewDomain {
    name: String,
}

pub(super) async fn add_domain(
    State(state): State<Arc<AppState>>, admin: Admin, Body(body): Body<NewDomain>,
) -> Result<Response, ApiError> {
    admin.require_administrator()?;
    let d = state
        .directory
        .add_domain(admin.org(), &admin.actor(), &body.name)
        .await?;
    Ok((StatusCode::CREATED, Json(domain_json(&d))).into_response())
}

pub(super) async fn verify_domain(
    State(state): State<Arc<AppState>>, admin: Admin, Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    admin.require_administrator()?;
    let Some(dns) = state.dns.as_ref() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "dns",
            "no DNS resolver is configured on this server".into(),
        ));
    };
    let d = state
        .directory
        .verify_domain(admin.org(), &admin.actor(), &name, dns.as_ref())
        .await?;
    Ok(Json(domain_json(&d)))
}

pub(super) async fn remove_domain(
    State(state): State<Arc<AppState>>, admin: Admin, Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    admin.require_administrator()?;
    state
        .directory
        .remove_domain(admin.org(), &admin.actor(), &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_api_error, call};
    use crate::testing::TestApp;
    use axum::http::{Method, StatusCode};
    use directory::store::AdminRole;

    #[tokio::test]
    async fn a_domain_is_kept_normalised_or_refused_400_invalid() {
        let t = TestApp::new().await;
        let s = t.session(AdminRole::Administrator).await;
        let add = |body: &'static str| call(&t, Method::POST, "/api/v1/domains", &s, body);
        let a = add(r#"{"name": " Example.EDU. "}"#).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text());
        let d = a.json();
        assert_eq!(d["name"], "example.edu");
        assert_eq!(d["txtRecord"]["name"], "example.edu");
        let txt = d["txtRecord"]["value"].as_str().unwrap_or_default();
        assert!(txt.starts_with("scimd-domain-verification="), "{d}");
        assert_api_error(
            &add(r#"{"name": "localhost"}"#).await,
            StatusCode::BAD_REQUEST,
            "invalid",
        );
    }
}
