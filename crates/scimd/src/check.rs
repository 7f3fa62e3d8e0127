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

/// The base URL as given, split so that paths are added to its path and its query flags
/// (Entra's `?aadOptscim062020`) ride along on every request, as the identity provider sends
/// them.
struct Base {
    /// `scheme://host:port/path`, without a trailing `/`.
    path: String,
    /// The query as given, without `?` (may be empty).
    flags: String,
}

impl Base {
    fn parse(given: &str) -> Result<Base, String> {
        let url = url::Url::parse(given.trim()).map_err(|e| {
            format!("'{given}' is not a URL ({e}): give the SCIM base, e.g. https://scim.example.org/scim/v2")
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!(
                "'{given}' is not an http:// or https:// URL: give the SCIM base, e.g. https://scim.example.org/scim/v2"
            ));
        }
        let mut path = url.clone();
        path.set_query(None);
        path.set_fragment(None);
        Ok(Base {
            path: path.as_str().trim_end_matches('/').to_owned(),
            flags: url.query().unwrap_or_default().to_owned(),
        })
    }

    /// `resource` (`/Users`) under the base with `query` after the base's own flags.
    fn at(&self, resource: &str, query: &str) -> String {
        let q = match (self.flags.as_str(), query) {
            ("", "") => String::new(),
            (f, "") => format!("?{f}"),
            ("", q) => format!("?{q}"),
            (f, q) => format!("?{f}&{q}"),
        };
        format!("{}{resource}{q}", self.path)
    }

    /// The URL as given with `/scim/v2` after its path, when its path does not end so.
    fn with_scim_v2(&self) -> Option<Base> {
        if self.path.ends_with("/scim/v2") {
            return None;
        }
        Some(Base {
            path: format!("{}/scim/v2", self.path),
            flags: self.flags.clone(),
        })
    }

    fn shown(&self) -> String {
        self.at("", "")
    }
}

/// A request that got no answer, in the words of its cause.
fn unreachable(e: &reqwest::Error, target: &str) -> String {
    use std::error::Error as _;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    let at = url::Url::parse(target)
                        .ok()
                        .and_then(|u| {
                            Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?))
                        })
                        .unwrap_or_else(|| target.to_owned());
                    return format!(
                        "connection refused: nothing listens on {at} (is scimd running, and on this address?)"
                    );
                }
                std::io::ErrorKind::ConnectionReset => {
                    return "the connection was reset (an http:// URL to an HTTPS listener, or a firewall?)".into();
                }
                _ => {}
            }
        }
        cause = c.source();
    }
    if e.is_timeout() {
        return "no answer within 15 s".into();
    }
    // The whole chain, which names a DNS failure or a certificate the client refused.
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    format!("request failed: {text}")
}

pub async fn run(url: &str, token: &str) -> Report {
    let mut report = Report {
        passed: true,
        lines: Vec::new(),
    };
    let base = match Base::parse(url) {
        Ok(b) => b,
        Err(why) => {
            report.passed = false;
            report.lines.push(format!("FAIL {why}"));
            report.lines.push("failed".into());
            return report;
        }
    };
    let client = match reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
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
            base.at("/ServiceProviderConfig", ""),
            true,
        ),
        (
            "filter for a user that does not exist",
            base.at("/Users", &format!("filter=userName%20eq%20%22{probe}%22")),
            true,
        ),
        (
            "list groups",
            base.at("/Groups", "count=1&excludedAttributes=members"),
            true,
        ),
        (
            "request without a token is refused",
            base.at("/Users", "count=1"),
            false,
        ),
    ];
    for (i, (what, target, with_token)) in steps.into_iter().enumerate() {
        let mut req = client
            .get(&target)
            .header("Accept", "application/scim+json");
        if with_token {
            req = req.bearer_auth(token);
        }
        // Whether the steps after this one would only say the same again.
        let mut stop = false;
        let outcome = match req.send().await {
            Err(e) => {
                stop = true;
                Err(unreachable(&e, &target))
            }
            Ok(resp) => {
                let status = resp.status().as_u16();
                let ctype = resp
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let body: Option<Value> = resp.json().await.ok();
                let judged = judge(what, with_token, status, &ctype, body.as_ref());
                if status == 404 && i == 0 {
                    stop = true;
                    match judged {
                        Ok(()) => Ok(()),
                        Err(why) => Err(format!("{why}{}", not_found_hint(&client, &base).await)),
                    }
                } else {
                    judged
                }
            }
        };
        match outcome {
            Ok(()) => report.lines.push(format!("ok   {what}")),
            Err(why) => {
                report.passed = false;
                report.lines.push(format!("FAIL {what}: {why}"));
            }
        }
        if stop {
            report
                .lines
                .push("the other steps were not tried: they would fail the same way".into());
            break;
        }
    }
    report.lines.push(if report.passed {
        "passed".into()
    } else {
        "failed".into()
    });
    report
}

/// After a 404 on the base's ServiceProviderConfig: where the SCIM base probably is.
async fn not_found_hint(client: &reqwest::Client, base: &Base) -> String {
    match base.with_scim_v2() {
        Some(guess) => {
            let answered = client
                .get(guess.at("/ServiceProviderConfig", ""))
                .header("Accept", "application/scim+json")
                .send()
                .await
                .is_ok_and(|r| r.status().as_u16() != 404);
            let shown = guess.shown();
            if answered {
                format!("; did you mean {shown} (the SCIM base ends in /scim/v2)?")
            } else {
                format!(
                    "; the SCIM base ends in /scim/v2 (did you mean {shown}?), and nothing answers there either"
                )
            }
        }
        None => format!(
            "; nothing answers SCIM at {}: is it the address of a scimd (and not of a proxy that does not forward /scim/v2)?",
            base.shown()
        ),
    }
}

fn judge(
    what: &str, with_token: bool, status: u16, ctype: &str, body: Option<&Value>,
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
