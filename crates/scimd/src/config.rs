//! Configuration in layers: defaults, then a TOML file (`--config PATH` or `SCIMD_CONFIG`),
//! then `SCIMD_*` environment variables, then flags. Each key of the file is a `serve` option
//! (`listen`, `database`, `smtp_url`, `tls_cert`, `rate_limit_per_token`, ...). A secret can
//! come from a file instead: `database_file` / `SCIMD_DATABASE_URL_FILE`, `smtp_url_file` /
//! `SCIMD_SMTP_URL_FILE`. Unknown keys stop the start; unknown `SCIMD_` variables are
//! reported. `scimd config check` prints the result, secrets redacted.
//!
//! The file configures `serve` (and `config check`): each of its values whose variable is not
//! set and whose flag is not given is added to the command line before it is parsed, so a
//! variable overrides the file and a flag overrides both. `*_FILE` secrets enter the same way.

use anyhow::{Context, Result, bail};
use clap::CommandFactory;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;

/// Environment variables read outside clap's options.
const OTHER_VARS: &[&str] = &[
    crate::check::TOKEN_VAR,
    "SCIMD_CONFIG",
    "SCIMD_LOG",
    "SCIMD_TEST_BACKEND",
    "SCIMD_TEST_POSTGRES_URL",
    "SCIMD_TEST_POSTGRES_CA",
];

/// Options whose values are secrets, by environment variable.
pub const SECRET_VARS: &[&str] = &["SCIMD_DATABASE_URL", "SCIMD_SMTP_URL"];

/// What loading found, for `config check` and the start-up report.
#[derive(Debug, Default)]
pub struct Loaded {
    pub file: Option<String>,
    /// Options (by environment variable) taken from the file, and the file key of each.
    pub from_file: BTreeMap<String, String>,
    /// Options (by environment variable) taken from `*_FILE` secrets.
    pub from_secret_files: BTreeSet<String>,
    pub warnings: Vec<String>,
}

/// A `serve` option that a file may set.
struct ServeOption {
    /// The file key: the flag with `_` for `-`.
    key: String,
    flag: String,
    env: String,
    /// A flag without a value (`--trust-proxy`).
    switch: bool,
}

fn serve_options() -> Vec<ServeOption> {
    let cmd = crate::Cli::command();
    let Some(serve) = cmd.find_subcommand("serve") else {
        return Vec::new();
    };
    serve
        .get_arguments()
        .filter_map(|a| {
            let env = a.get_env()?.to_str()?.to_owned();
            let flag = a.get_long()?.to_owned();
            Some(ServeOption {
                key: flag.replace('-', "_"),
                switch: !a.get_action().takes_values(),
                flag,
                env,
            })
        })
        .collect()
}

/// Every environment variable any command reads.
fn known_vars() -> BTreeSet<String> {
    fn walk(cmd: &clap::Command, out: &mut BTreeSet<String>) {
        for a in cmd.get_arguments() {
            if let Some(env) = a.get_env().and_then(|e| e.to_str()) {
                out.insert(env.to_owned());
                out.insert(format!("{env}_FILE"));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, out);
        }
    }
    let mut out: BTreeSet<String> = OTHER_VARS.iter().map(|s| (*s).to_owned()).collect();
    walk(&crate::Cli::command(), &mut out);
    out
}

fn value_text(key: &str, v: &toml::Value) -> Result<String> {
    Ok(match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Array(items) => items
            .iter()
            .map(|i| value_text(key, i))
            .collect::<Result<Vec<_>>>()?
            .join(","),
        other => bail!("configuration key '{key}': unsupported value {other}"),
    })
}

fn config_path(args: &[OsString]) -> Option<String> {
    let mut it = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(a) = it.next() {
        if a == "--config" {
            return it.next();
        }
        if let Some(p) = a.strip_prefix("--config=") {
            return Some(p.to_owned());
        }
    }
    std::env::var("SCIMD_CONFIG").ok()
}

/// Reads the file (for `serve` and `config check`) and the `*_FILE` secrets, and returns the
/// command line to parse with their values added.
pub fn prepare(args: Vec<OsString>) -> Result<(Vec<OsString>, Loaded)> {
    let mut loaded = Loaded::default();
    let known = known_vars();
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("SCIMD_") && !known.contains(name.as_ref()) {
            loaded
                .warnings
                .push(format!("unknown environment variable {name} (ignored)"));
        }
    }
    let words: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let serving = words
        .iter()
        .skip(1)
        .find(|w| !w.starts_with('-'))
        .is_some_and(|w| w == "serve")
        || words
            .windows(2)
            .any(|w| w[0] == "config" && w[1] == "check");
    if !serving {
        return Ok((args, loaded));
    }
    let options = serve_options();
    let given = |o: &ServeOption| {
        std::env::var_os(&o.env).is_some()
            || words
                .iter()
                .any(|w| *w == format!("--{}", o.flag) || w.starts_with(&format!("--{}=", o.flag)))
    };
    let mut extra: Vec<String> = Vec::new();
    let add = |o: &ServeOption, value: String, extra: &mut Vec<String>| {
        if o.switch {
            if value == "true" {
                extra.push(format!("--{}", o.flag));
            }
        } else {
            extra.push(format!("--{}={value}", o.flag));
        }
    };
    let mut secret_files: BTreeMap<String, String> = BTreeMap::new();
    if let Some(path) = config_path(&args) {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the configuration file {path}"))?;
        let table: toml::Table = toml::from_str(&text)
            .with_context(|| format!("parsing the configuration file {path}"))?;
        let mut unknown = Vec::new();
        for (key, value) in &table {
            if let Some(base) = key.strip_suffix("_file")
                && let Some(o) = options.iter().find(|o| o.key == base)
            {
                secret_files.insert(o.env.clone(), value_text(key, value)?);
                continue;
            }
            let Some(o) = options.iter().find(|o| o.key == *key) else {
                unknown.push(key.clone());
                continue;
            };
            if !given(o) {
                add(o, value_text(key, value)?, &mut extra);
                loaded.from_file.insert(o.env.clone(), key.clone());
            }
        }
        if !unknown.is_empty() {
            bail!(
                "unknown key(s) in {path}: {} (known: {})",
                unknown.join(", "),
                options
                    .iter()
                    .map(|o| o.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        loaded.file = Some(path);
    }
    // Secrets from files: SCIMD_X_FILE (or the file's `x_file`) fills an option not given.
    for o in &options {
        let path = std::env::var(format!("{}_FILE", o.env))
            .ok()
            .or_else(|| secret_files.get(&o.env).cloned());
        let Some(path) = path else { continue };
        if given(o) || loaded.from_file.contains_key(&o.env) {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the secret file {path} for --{}", o.flag))?;
        let value = text.lines().next().unwrap_or_default().trim().to_owned();
        if value.is_empty() {
            bail!("the secret file {path} for --{} is empty", o.flag);
        }
        add(o, value, &mut extra);
        loaded.from_secret_files.insert(o.env.clone());
    }
    let mut args = args;
    // `config check` takes serve flags after a `--`-less trailing list: append there too.
    args.extend(extra.into_iter().map(OsString::from));
    Ok((args, loaded))
}

/// `scimd config check`: the effective `serve` configuration and where each value came from.
pub fn check(loaded: &Loaded, serve_args: &[String]) -> Result<()> {
    let mut argv = vec!["scimd".to_owned(), "serve".to_owned()];
    argv.extend(serve_args.iter().cloned());
    let matches = crate::Cli::command()
        .try_get_matches_from(&argv)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (_, serve) = matches
        .subcommand()
        .ok_or_else(|| anyhow::anyhow!("no serve options"))?;
    let cmd = crate::Cli::command();
    let serve_cmd = cmd
        .find_subcommand("serve")
        .ok_or_else(|| anyhow::anyhow!("no serve command"))?;
    if let Some(f) = &loaded.file {
        println!("# configuration file: {f}");
    }
    for w in &loaded.warnings {
        println!("# warning: {w}");
    }
    for arg in serve_cmd.get_arguments() {
        let id = arg.get_id().as_str();
        let Some(long) = arg.get_long() else { continue };
        let env = arg.get_env().and_then(|e| e.to_str()).unwrap_or_default();
        let values: Vec<String> = serve
            .get_raw(id)
            .map(|v| v.map(|s| s.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let source = match serve.value_source(id) {
            Some(clap::parser::ValueSource::CommandLine) => match loaded.from_file.get(env) {
                Some(key) => format!("file ({key})"),
                None if loaded.from_secret_files.contains(env) => format!("{env}_FILE"),
                None => "flag".to_owned(),
            },
            Some(clap::parser::ValueSource::EnvVariable) => format!("environment ({env})"),
            Some(clap::parser::ValueSource::DefaultValue) => "default".to_owned(),
            _ => "unset".to_owned(),
        };
        let shown = if values.is_empty() {
            "-".to_owned()
        } else if SECRET_VARS.contains(&env) {
            values
                .iter()
                .map(|v| redact(v))
                .collect::<Vec<_>>()
                .join(",")
        } else {
            values.join(",")
        };
        println!("{:<28} = {:<44} # {source}", long.replace('-', "_"), shown);
    }
    // What would stop `serve` at start stops the check too, after the values it concerns.
    if let Some(url) = serve.get_one::<String>("smtp_url")
        && let Err(e) = crate::mail::check_url(url)
    {
        println!("# error: {e}");
        return Err(e.context("--smtp-url cannot be used"));
    }
    Ok(())
}

/// Query parameters whose values are secrets (PostgreSQL's `?password=`, libpq's
/// `sslpassword`), compared without case.
const SECRET_PARAMS: &[&str] = &["password", "sslpassword"];

/// A database or SMTP URL fit to print: the password of its user-info (or the whole user-info
/// when there is no password, as it may be a token) and the values of its `password` and
/// `sslpassword` query parameters replaced by `***`. SQLite URLs carry no secret and are left
/// as they are, so the printed URL still works.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    if scheme.eq_ignore_ascii_case("sqlite") {
        return url.to_owned();
    }
    // Parsers disagree on where the user-info ends: RFC 3986 (lettre's `url`) takes the last
    // `@` before the first `/`, `?` or `#`, tokio-postgres the first `@` anywhere. What is a
    // secret in either reading is hidden, at worst hiding more than needed.
    let authority = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let mut hidden: Vec<(usize, usize)> = Vec::new();
    for at in [rest[..authority].rfind('@'), rest.find('@')] {
        let Some(at) = at else {
            hide_query(rest, 0, &mut hidden);
            continue;
        };
        match rest[..at].find(':') {
            Some(colon) => hidden.push((colon + 1, at)),
            None => hidden.push((0, at)),
        }
        hide_query(rest, at + 1, &mut hidden);
    }
    hidden.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (from, to) in hidden {
        match merged.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => merged.push((from, to)),
        }
    }
    let mut out = format!("{scheme}://");
    let mut shown = 0;
    for (from, to) in merged {
        out.push_str(&rest[shown..from]);
        out.push_str("***");
        shown = to;
    }
    out.push_str(&rest[shown..]);
    out
}

/// Adds the value ranges of the secret query parameters of the query that starts at the
/// first `?` from `from` in `rest`.
fn hide_query(rest: &str, from: usize, hidden: &mut Vec<(usize, usize)>) {
    let Some(q) = rest[from..].find('?').map(|q| from + q + 1) else {
        return;
    };
    let mut start = q;
    for pair in rest[q..].split('&') {
        if let Some((key, value)) = pair.split_once('=')
            && is_secret_param(key)
        {
            let value_start = start + key.len() + 1;
            hidden.push((value_start, value_start + value.len()));
        }
        start += pair.len() + 1;
    }
}

/// Whether a query key names a secret; keys are compared after percent-decoding, as the
/// drivers decode them, and without case.
fn is_secret_param(key: &str) -> bool {
    form_urlencoded::parse(key.as_bytes())
        .next()
        .is_some_and(|(k, _)| {
            SECRET_PARAMS
                .iter()
                .any(|s| k.trim().eq_ignore_ascii_case(s))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("smtps://token@h:465"), "smtps://***@h:465");
        assert_eq!(redact("sqlite://scimd.db"), "sqlite://scimd.db");
        assert_eq!(redact("sqlite:///srv/a@b.db"), "sqlite:///srv/a@b.db");
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn password_query_parameters_are_hidden_in_any_case() {
        for (url, want) in [
            (
                "postgres://u@db.internal/scimd?password=hunter2",
                "postgres://***@db.internal/scimd?password=***",
            ),
            (
                "postgresql://db/x?sslmode=require&PassWord=hunter2&application_name=a",
                "postgresql://db/x?sslmode=require&PassWord=***&application_name=a",
            ),
            (
                "postgres://db/x?sslpassword=hunter2&pass%77ord=hunter2",
                "postgres://db/x?sslpassword=***&pass%77ord=***",
            ),
            (
                "smtp://relay.example:587?tls=required&password=hunter2",
                "smtp://relay.example:587?tls=required&password=***",
            ),
        ] {
            assert_eq!(redact(url), want, "{url}");
        }
    }

    #[test]
    fn a_password_with_url_delimiters_is_still_hidden() {
        // tokio-postgres reads the user-info up to the first `@`, whatever comes before it.
        for url in [
            "postgres://u:hun?ter2@h/db",
            "postgres://u:hun/ter2@h/db",
            "postgres://u:hun@ter2@h/db",
            "postgres://h/db?password=hun@ter2",
        ] {
            let shown = redact(url);
            assert!(!shown.contains("ter2"), "{url} -> {shown}");
            assert!(!shown.contains("hun"), "{url} -> {shown}");
        }
    }

    #[test]
    fn every_serve_option_has_a_key_and_a_variable() {
        let keys: Vec<String> = serve_options().into_iter().map(|o| o.key).collect();
        for k in [
            "listen",
            "database",
            "smtp_url",
            "tls_cert",
            "rate_limit_per_token",
            "dns_server",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k} missing from {keys:?}");
        }
    }
}
