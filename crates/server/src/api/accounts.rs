//! Accounts for administrators: the list (search, source, status, keyset pages), one account,
//! a manual account created, and an edit (imported attributes refused on a synced account,
//! local properties on any).

use super::*;

pub(super) fn account_json(a: &Account) -> Value {
    let r = &a.resource;
    json!({
        "id": r.id.to_string(),
        "userName": a.user_name(),
        "source": a.source.as_str(),
        "status": a.status().as_str(),
        "managedBy": match a.source { Source::Scim => Value::from("directory sync"), Source::Manual => Value::Null },
        "version": r.version,
        "created": ts(r.created),
        "lastModified": ts(r.last_modified),
        "deleted": a.deleted.map(ts),
        "holdUntil": a.hold_until.map(ts),
        "attributes": r.doc,
        "local": a.local,
    })
}

#[derive(Deserialize)]
pub(super) struct AccountList {
    search: Option<String>,
    source: Option<String>,
    status: Option<String>,
    after: Option<String>,
    count: Option<u32>,
}

pub(super) async fn list_accounts(
    State(state): State<Arc<AppState>>, admin: Admin, Query(q): Query<AccountList>,
) -> Result<Json<Value>, ApiError> {
    let source = match q.source.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(Source::parse(s).ok_or_else(|| bad("source must be scim or manual"))?),
        None => None,
    };
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => {
            Some(Status::parse(s).ok_or_else(|| bad("status must be active or deactivated"))?)
        }
        None => None,
    };
    let page = state
        .directory
        .list_accounts(
            admin.org(),
            &AccountQuery {
                search: q.search,
                source,
                status,
                after: q.after,
                count: q.count.unwrap_or(100).clamp(1, 1000),
            },
        )
        .await?;
    Ok(Json(json!({
        "total": page.total,
        "totalExact": page.total_exact,
        "next": page.next,
        "accounts": page.accounts.iter().map(account_json).collect::<Vec<_>>(),
    })))
}

pub(super) async fn show_account(
    State(state): State<Arc<AppState>>, admin: Admin, Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let a = state.directory.get_account(admin.org(), &id).await?;
    Ok(Json(account_json(&a)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AccountBody {
    #[serde(default)]
    attributes: Option<Map<String, Value>>,
    #[serde(default)]
    local: Option<LocalProps>,
    #[serde(default)]
    version: Option<i64>,
}

pub(super) async fn create_account(
    State(state): State<Arc<AppState>>, admin: Admin, Body(body): Body<AccountBody>,
) -> Result<Response, ApiError> {
    let attributes = Value::Object(body.attributes.unwrap_or_default());
    let a = state
        .directory
        .create_account(admin.org(), &admin.actor(), &attributes, body.local)
        .await?;
    Ok((StatusCode::CREATED, Json(account_json(&a))).into_response())
}

pub(super) async fn edit_account(
    State(state): State<Arc<AppState>>, admin: Admin, Path(id): Path<String>,
    Body(body): Body<AccountBody>,
) -> Result<Json<Value>, ApiError> {
    let a = state
        .directory
        .edit_account(
            admin.org(),
            &admin.actor(),
            &id,
            AccountEdit {
                attributes: body.attributes.unwrap_or_default(),
                local: body.local,
                expected_version: body.version,
            },
        )
        .await?;
    Ok(Json(account_json(&a)))
}
