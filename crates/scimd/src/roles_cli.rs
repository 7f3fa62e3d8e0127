//! `scimd roles ...` (docs/contract.md, "Roles and rules"): the role catalogue, the rules that
//! derive roles and locations from what the identity provider sends, and bulk assignment of
//! a hand-set role. Each calls `directory::roles::Roles`, which holds the rules and logs the
//! act.

use crate::admin_cli::Format;
use crate::{DbArgs, find_org, open_store};
use anyhow::{Result, bail};
use directory::Clock;
use directory::roles::{Applied, Roles, RuleInput, describe};
use directory::store::RoleRule;
use serde_json::json;
use std::sync::Arc;

const ACTOR: &str = "cli";

/// The roles service on the database of `db`, and the organisation named `org` in it.
async fn service(
    db: &DbArgs, org: &str, clock: Arc<dyn Clock>,
) -> Result<(Roles, directory::Organisation)> {
    let store = open_store(&db.database)?;
    let org = find_org(store.as_ref(), org).await?;
    Ok((Roles::new(store, clock), org))
}

/// A rule's condition and what it gives, as options.
#[derive(Debug, clap::Args)]
pub struct RuleArgs {
    /// The rule's name, shown in the console and on the accounts it gives roles to.
    #[arg(long)]
    name: String,
    /// Members of the group with this displayName (or id) match.
    #[arg(long, conflicts_with_all = ["attribute", "equals", "starts_with"])]
    member_of: Option<String>,
    /// The SCIM attribute compared: title, department, userType, name.givenName, ...
    #[arg(long, requires = "value_op")]
    attribute: Option<String>,
    /// The attribute (any of its values) equals this, ignoring case.
    #[arg(long, group = "value_op", conflicts_with = "starts_with")]
    equals: Option<String>,
    /// The attribute (any of its values) starts with this, ignoring case.
    #[arg(long, group = "value_op")]
    starts_with: Option<String>,
    /// A role the rule gives (repeatable; from the catalogue).
    #[arg(long = "role")]
    roles: Vec<String>,
    /// A location the rule gives (repeatable).
    #[arg(long = "location")]
    locations: Vec<String>,
}

impl RuleArgs {
    fn input(self) -> Result<RuleInput> {
        let (attribute, op, value) = match (
            self.member_of,
            self.attribute,
            self.equals,
            self.starts_with,
        ) {
            (Some(g), None, None, None) => (String::new(), "memberOf", g),
            (None, Some(a), Some(v), None) => (a, "equals", v),
            (None, Some(a), None, Some(v)) => (a, "startsWith", v),
            _ => {
                bail!("give --member-of GROUP, or --attribute NAME with --equals or --starts-with")
            }
        };
        Ok(RuleInput {
            name: self.name,
            attribute,
            op: op.to_owned(),
            value,
            roles: self.roles,
            locations: self.locations,
        })
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum RolesCommand {
    /// The role catalogue: the kind's roles and the organisation's own.
    List {
        #[arg(long)]
        org: String,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Add a role of the organisation's own to the catalogue.
    Add {
        #[arg(long)]
        org: String,
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Remove a role of the organisation's own (refused while a rule gives it).
    Remove {
        #[arg(long)]
        org: String,
        name: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List the rules, in order.
    Rules {
        #[arg(long)]
        org: String,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Add a rule at the end and apply the rules to every account.
    RuleAdd {
        #[arg(long)]
        org: String,
        #[command(flatten)]
        rule: RuleArgs,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Replace a rule and apply the rules to every account.
    RuleEdit {
        #[arg(long)]
        org: String,
        /// The rule's id (`scimd roles rules` lists them).
        id: String,
        #[command(flatten)]
        rule: RuleArgs,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Delete a rule and apply the rules that are left to every account.
    RuleRemove {
        #[arg(long)]
        org: String,
        id: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Move a rule up or down the list.
    RuleMove {
        #[arg(long)]
        org: String,
        id: String,
        #[arg(value_parser = ["up", "down"])]
        direction: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Apply the rules to every account again (after a crash during a rule change, say).
    Apply {
        #[arg(long)]
        org: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Give accounts a hand-set role (`--remove`: take it away), by id or userName.
    Assign {
        #[arg(long)]
        org: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        remove: bool,
        #[arg(required = true)]
        accounts: Vec<String>,
        #[command(flatten)]
        db: DbArgs,
    },
}

fn print_applied(a: Applied) {
    println!(
        "rules applied to {} account(s); {} changed",
        a.accounts, a.changed
    );
}

fn print_rule(r: &RoleRule) {
    println!("{}  {}. {}: {}", r.id, r.position, r.name, describe(r));
}

pub async fn roles(cmd: RolesCommand, clock: Arc<dyn Clock>) -> Result<()> {
    match cmd {
        RolesCommand::List { org, format, db } => {
            let (roles, org) = service(&db, &org, clock).await?;
            let c = roles.catalogue(org.id).await?;
            match format {
                Format::Json => println!("{}", json!({ "defaults": c.defaults, "own": c.own })),
                Format::Text => {
                    for r in &c.defaults {
                        println!("{r}  (every {} organisation)", org.kind.as_str());
                    }
                    for r in &c.own {
                        println!("{r}");
                    }
                }
            }
        }
        RolesCommand::Add { org, name, db } => {
            let (roles, org) = service(&db, &org, clock).await?;
            let name = roles.add_role(org.id, ACTOR, &name).await?;
            println!("added the role {name}");
        }
        RolesCommand::Remove { org, name, db } => {
            let (roles, org) = service(&db, &org, clock).await?;
            roles.remove_role(org.id, ACTOR, &name).await?;
            println!("removed the role {name}");
        }
        RolesCommand::Rules { org, format, db } => {
            let (roles, org) = service(&db, &org, clock).await?;
            let rules = roles.rules(org.id).await?;
            match format {
                Format::Json => {
                    let list: Vec<_> = rules
                        .iter()
                        .map(|r| {
                            json!({
                                "id": r.id.to_string(),
                                "position": r.position,
                                "name": r.name,
                                "attribute": r.condition.attribute,
                                "op": r.condition.op.as_str(),
                                "value": r.condition.value,
                                "roles": r.roles,
                                "locations": r.locations,
                            })
                        })
                        .collect();
                    println!("{}", json!({ "rules": list }));
                }
                Format::Text => {
                    for r in &rules {
                        print_rule(r);
                    }
                    eprintln!("{} rule(s)", rules.len());
                }
            }
        }
        RolesCommand::RuleAdd { org, rule, db } => {
            let (roles, org) = service(&db, &org, clock).await?;
            let (r, applied) = roles.create_rule(org.id, ACTOR, &rule.input()?).await?;
            print_rule(&r);
            print_applied(applied);
        }
        RolesCommand::RuleEdit { org, id, rule, db } => {
            let (roles, org) = service(&db, &org, clock).await?;
            let (r, applied) = roles
                .update_rule(org.id, ACTOR, &id, &rule.input()?)
                .await?;
            print_rule(&r);
            print_applied(applied);
        }
        RolesCommand::RuleRemove { org, id, db } => {
            let (roles, org) = service(&db, &org, clock).await?;
            let applied = roles.delete_rule(org.id, ACTOR, &id).await?;
            println!("deleted the rule {id}");
            print_applied(applied);
        }
        RolesCommand::RuleMove {
            org,
            id,
            direction,
            db,
        } => {
            let (roles, org) = service(&db, &org, clock).await?;
            let by = if direction == "up" { -1 } else { 1 };
            roles.move_rule(org.id, ACTOR, &id, by).await?;
            for r in roles.rules(org.id).await? {
                print_rule(&r);
            }
        }
        RolesCommand::Apply { org, db } => {
            let (roles, org) = service(&db, &org, clock).await?;
            print_applied(roles.apply_all(org.id, ACTOR).await?);
        }
        RolesCommand::Assign {
            org,
            role,
            remove,
            accounts,
            db,
        } => {
            let store = open_store(&db.database)?;
            let org = find_org(store.as_ref(), &org).await?;
            let roles = Roles::new(store.clone(), clock);
            let mut ids = Vec::with_capacity(accounts.len());
            for a in &accounts {
                if a.parse::<directory::ResourceId>().is_ok() {
                    ids.push(a.clone());
                    continue;
                }
                match store
                    .find_account_by_name(org.id, &a.to_lowercase())
                    .await?
                {
                    Some(found) => ids.push(found.resource.id.to_string()),
                    None => bail!("no account with the id or userName '{a}'"),
                }
            }
            let changed = roles.assign(org.id, ACTOR, &ids, &role, !remove).await?;
            println!(
                "{} the role {role}: {changed} of {} account(s) changed",
                if remove { "took away" } else { "gave" },
                ids.len()
            );
        }
    }
    Ok(())
}
