//! An account's SCIM document as an administrator reads it: attributes by their label
//! ("Family name", not `name.familyName`), addresses as addresses, the manager as a link to
//! their account. `active` is not among them: the page's status says it, from the document and
//! the account's state together, so the two never disagree.

use serde_json::{Map, Value};

/// The enterprise extension's schema URN (RFC 7643 section 4.3).
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// One line of the attributes list; `href` when the value links to another page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub label: String,
    pub text: String,
    pub href: Option<String>,
}

impl Row {
    fn text(label: &str, text: String) -> Row {
        Row {
            label: label.to_owned(),
            text,
            href: None,
        }
    }
}

/// The label of a core or enterprise attribute; `None` for one without a label of its own.
fn label(path: &str) -> Option<&'static str> {
    Some(match path {
        "userName" => "User name",
        "externalId" => "External ID",
        "displayName" => "Display name",
        "nickName" => "Nickname",
        "title" => "Job title",
        "userType" => "User type",
        "preferredLanguage" => "Preferred language",
        "locale" => "Locale",
        "timezone" => "Time zone",
        "profileUrl" => "Profile URL",
        "name.formatted" => "Full name",
        "name.givenName" => "Given name",
        "name.familyName" => "Family name",
        "name.middleName" => "Middle name",
        "name.honorificPrefix" => "Title before the name",
        "name.honorificSuffix" => "Title after the name",
        "emails" => "E-mail addresses",
        "phoneNumbers" => "Phone numbers",
        "ims" => "Instant messaging",
        "photos" => "Photos",
        "addresses" => "Addresses",
        "entitlements" => "Entitlements",
        "roles" => "Roles from the identity provider",
        "x509Certificates" => "Certificates",
        "employeeNumber" => "Employee number",
        "costCenter" => "Cost centre",
        "organization" => "Organisation",
        "division" => "Division",
        "department" => "Department",
        "manager" => "Manager",
        _ => return None,
    })
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        other => other.to_string(),
    }
}

/// A multi-valued attribute's item: its value, with its type and "primary" after it.
fn item(v: &Value) -> String {
    let Value::Object(o) = v else {
        return scalar(v);
    };
    let value = if o.contains_key("streetAddress")
        || o.contains_key("locality")
        || o.contains_key("postalCode")
        || o.contains_key("country")
    {
        address(o)
    } else {
        o.get("value")
            .or_else(|| o.get("formatted"))
            .map(scalar)
            .unwrap_or_default()
    };
    let mut tags: Vec<String> = Vec::new();
    if let Some(t) = o.get("type").and_then(Value::as_str) {
        tags.push(t.to_owned());
    }
    if o.get("primary").and_then(Value::as_bool) == Some(true) {
        tags.push("primary".into());
    }
    if value.is_empty() {
        Value::Object(o.clone()).to_string()
    } else if tags.is_empty() {
        value
    } else {
        format!("{value} ({})", tags.join(", "))
    }
}

/// A postal address on one line, as it is written: street, then "postcode locality",
/// region, country; `formatted` when the identity provider sent only that.
fn address(o: &Map<String, Value>) -> String {
    let part = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or_default().trim();
    let town = [part("postalCode"), part("locality")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let parts: Vec<&str> = [
        part("streetAddress"),
        &town,
        part("region"),
        part("country"),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect();
    if parts.is_empty() {
        part("formatted").to_owned()
    } else {
        parts.join(", ")
    }
}

fn values(v: &Value) -> String {
    match v {
        Value::Array(a) => a.iter().map(item).collect::<Vec<_>>().join("; "),
        other => item(other),
    }
}

/// The rows of an account's attributes, core ones first in the document's order, then the
/// enterprise extension, then other extensions under their own attribute names.
pub(crate) fn rows(doc: &Value) -> Vec<Row> {
    let mut out = Vec::new();
    let Some(obj) = doc.as_object() else {
        return out;
    };
    for (k, v) in obj {
        match (k.as_str(), v) {
            ("schemas" | "id" | "meta" | "active" | "groups", _) => {}
            (urn, Value::Object(sub)) if urn.starts_with("urn:") => {
                for (sk, sv) in sub {
                    if urn == ENTERPRISE && sk == "manager" {
                        out.extend(manager(sv));
                        continue;
                    }
                    let known = (urn == ENTERPRISE).then(|| label(sk)).flatten();
                    out.push(Row::text(known.unwrap_or(sk), values(sv)));
                }
            }
            (_, Value::Object(sub)) => {
                for (sk, sv) in sub {
                    let path = format!("{k}.{sk}");
                    out.push(Row::text(label(&path).unwrap_or(&path), values(sv)));
                }
            }
            _ => out.push(Row::text(label(k).unwrap_or(k), values(v))),
        }
    }
    out
}

/// The manager as a link to their account, named by `displayName` when the identity provider
/// sent it.
fn manager(v: &Value) -> Option<Row> {
    let id = match v {
        Value::String(s) => s.as_str(),
        Value::Object(o) => o.get("value").and_then(Value::as_str)?,
        _ => return None,
    };
    let name = v
        .get("displayName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(id);
    Some(Row {
        label: "Manager".into(),
        text: name.to_owned(),
        href: Some(format!("/accounts/{}", super::enc(id))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attributes_read_by_label_with_addresses_and_a_linked_manager() {
        let doc = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "x",
            "userName": "kim@example.com",
            "active": true,
            "name": { "givenName": "Kim", "familyName": "Lee" },
            "emails": [{ "value": "kim@example.com", "type": "work", "primary": true }],
            "addresses": [{ "streetAddress": "1 Main St", "locality": "Springfield",
                            "postalCode": "12345", "country": "US", "type": "work" }],
            ENTERPRISE: { "department": "Science",
                          "manager": { "value": "m-1", "displayName": "Ada Byron" } },
        });
        let rows = rows(&doc);
        let find = |l: &str| rows.iter().find(|r| r.label == l).cloned();
        assert_eq!(find("Family name").map(|r| r.text), Some("Lee".into()));
        assert_eq!(
            find("E-mail addresses").map(|r| r.text),
            Some("kim@example.com (work, primary)".into())
        );
        assert_eq!(
            find("Addresses").map(|r| r.text),
            Some("1 Main St, 12345 Springfield, US (work)".into())
        );
        assert_eq!(find("Department").map(|r| r.text), Some("Science".into()));
        let m = find("Manager").expect("manager");
        assert_eq!(
            (m.text.as_str(), m.href.as_deref()),
            ("Ada Byron", Some("/accounts/m-1"))
        );
        assert!(find("active").is_none() && find("id").is_none() && find("schemas").is_none());
    }
}
