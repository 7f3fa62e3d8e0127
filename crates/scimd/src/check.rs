//! `scimd check URL --token-file F` (or `SCIMD_CHECK_TOKEN`, or `--token T`): what an identity
//! provider's "Test Connection" does (Entra filters for a random GUID and expects 200 with an
//! empty ListResponse; it also reads the service provider configuration), plus an
//! unauthenticated request that must be refused.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::path::Path;

/// The environment variable `scimd check` takes its token from.
pub const TOKEN_VAR: &str = "SCIMD_CHECK_TOKEN";

/// The bearer token from `--token` or `--token-file` (its first line, trimmed), or else
/// [`TOKEN_VAR`]. Both flags at once are refused rather than one silently winning; a flag wins
/// over the variable, as every flag does over the environment (so `scimd check URL --token T`
/// means what it says even where the variable is exported).
pub fn token(flag: Option<String>, file: Option<&Path>) -> Result<String> {
    // Set but empty counts as unset, as shells make that easy to leave behind.
    let var = std::env::var_os(TOKEN_VAR)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.into_string()
                .map_err(|_| anyhow::anyhow!("{TOKEN_VAR} is not valid UTF-8"))
        })
        .transpose()?;
    let token = match (flag, file, var) {
        (Some(_), Some(_), _) => {
            bail!("give the token one way only: --token-file FILE or --token TOKEN")
        }
        (Some(t), None, _) => t,
        (None, Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the token file {}", path.display()))?;
            let first = text.lines().next().unwrap_or_default().trim().to_owned();
            if first.is_empty() {
                bail!(
                    "the first line of the token file {} is empty",
                    path.display()
                );
            }
            first
        }
        (None, None, Some(t)) => t,
        (None, None, None) => {
            bail!("no token: give --token-file FILE, set {TOKEN_VAR}, or give --token TOKEN")
        }
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        bail!("the token is empty");
    }
    Ok(token)
}

/// The outcome: one line per step, and whether every step passed.
#[derive(Debug)]
pub struct Report {
    pub passed: bool,
    pub lines: Vec<String>,
}

pub async fn run(url: &str, token: &str) -> Report {
    let base = url.trim_end_matches('/').to_owned();
    let mut report = Report {
        passed: true,
        lines: Vec::new(),
    };
    let client = match reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            report.passed = false;
            report
                .lines
                .push(format!("FAIL cannot build an HTTP client: {e}"));
            return report;
        }
    };
    let probe = format!("scimd-check-{}", uuid_like());
    let steps: [(&str, String, bool); 4] = [
        (
            "service provider configuration",
            format!("{base}/ServiceProviderConfig"),
            true,
        ),
        (
            "filter for a user that does not exist",
            format!("{base}/Users?filter=userName%20eq%20%22{probe}%22"),
            true,
        ),
        (
            "list groups",
            format!("{base}/Groups?count=1&excludedAttributes=members"),
            true,
        ),
        (
            "request without a token is refused",
            format!("{base}/Users?count=1"),
            false,
        ),
    ];
    for (what, target, with_token) in steps {
        let mut req = client
            .get(&target)
            .header("Accept", "application/scim+json");
        if with_token {
            req = req.bearer_auth(token);
        }
        let outcome = match req.send().await {
            Err(e) => Err(format!("request failed: {e}")),
            Ok(resp) => {
                let status = resp.status().as_u16();
                let ctype = resp
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let body: Option<Value> = resp.json().await.ok();
                judge(what, with_token, status, &ctype, body.as_ref())
            }
        };
        match outcome {
            Ok(()) => report.lines.push(format!("ok   {what}")),
            Err(why) => {
                report.passed = false;
                report.lines.push(format!("FAIL {what}: {why}"));
            }
        }
    }
    report.lines.push(if report.passed {
        "passed".into()
    } else {
        "failed".into()
    });
    report
}

fn judge(
    what: &str,
    with_token: bool,
    status: u16,
    ctype: &str,
    body: Option<&Value>,
) -> Result<(), String> {
    if !with_token {
        return if status == 401 {
            Ok(())
        } else {
            Err(format!("expected 401, got {status}"))
        };
    }
    if status != 200 {
        let detail = body
            .and_then(|b| b.get("detail"))
            .and_then(Value::as_str)
            .unwrap_or("");
        return Err(format!("expected 200, got {status} {detail}"));
    }
    if !ctype.starts_with("application/scim+json") && !ctype.starts_with("application/json") {
        return Err(format!("unexpected content type '{ctype}'"));
    }
    let body = body.ok_or("the body is not JSON")?;
    if what.starts_with("filter") {
        let total = body.get("totalResults").and_then(Value::as_u64);
        if total != Some(0) {
            return Err(format!(
                "expected an empty ListResponse, got totalResults {total:?}"
            ));
        }
    }
    Ok(())
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}")
}
