// The console's end-to-end story, in Debian's Chromium driven by playwright-core: an
// administrator follows the token walkthrough (update-apple-scim-token.txt, scimd's side) and
// runs the directory, while Node's fetch plays the identity provider over SCIM.
//
// Run by scripts/e2e, which builds and starts `scimd serve` and passes:
//   SCIMD_ORIGIN      http://127.0.0.1:PORT
//   SCIMD_SETUP_LINK  the one-time link serve printed
//   E2E_ARTIFACTS     where screenshots go (one per page and step)
//   SCIMD_BIN         the scimd binary, for the CLI steps (a second organisation)
//   SCIMD_DATABASE    the database serve runs on
//   SCIMD_MAIL_FILE   where the SMTP sink writes what scimd mails (one JSON line a message)
// Steps run in order and stop at the first failure (each builds on the one before). The last
// line reads "N passed, M failed".

import { chromium } from "playwright-core";
import axe from "axe-core";
import * as OTPAuth from "otpauth";
import { mkdirSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import assert from "node:assert/strict";

const origin = mustEnv("SCIMD_ORIGIN");
const setupLink = mustEnv("SCIMD_SETUP_LINK");
// The first organisation: the set-up link is a password link, `/password/{org}/{secret}`.
const orgId = new URL(setupLink).pathname.split("/")[2];
const artifacts = process.env.E2E_ARTIFACTS || "e2e/artifacts";
const chromiumPath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const scimdBin = mustEnv("SCIMD_BIN");
const database = mustEnv("SCIMD_DATABASE");
const mailFile = mustEnv("SCIMD_MAIL_FILE");
mkdirSync(artifacts, { recursive: true });

const EMAIL = "ada@example.com";
const PASSWORD = "a long enough passphrase";
const ORG_NAME = "Story Hill School";

function mustEnv(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is not set (run scripts/e2e)`);
    process.exit(2);
  }
  return v;
}

// ---- the identity provider's side: plain SCIM over fetch

async function scim(method, path, token, body) {
  const r = await fetch(`${origin}/scim/v2${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/scim+json",
      accept: "application/scim+json",
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

const user = (userName, displayName) => ({
  schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
  userName,
  displayName,
  name: { givenName: displayName.split(" ")[0], familyName: displayName.split(" ")[1] || "" },
  emails: [{ value: userName, type: "work", primary: true }],
  active: true,
});

// ---- the browser

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  // As root on a closed network: no sandbox, no background connections to Google's hosts.
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin });
const page = await context.newPage();
let shot = 0;

// Every page the story photographs is also checked with axe-core (WCAG 2.x A and AA rules):
// a violation of impact serious or critical fails the step; lesser ones are printed.
async function screenshot(name) {
  shot += 1;
  const file = join(artifacts, `${String(shot).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  await checkAccessibility(name);
}

async function checkAccessibility(name) {
  // Evaluated through the debugging protocol, so the console's script policy does not apply.
  await page.evaluate(axe.source);
  const { violations } = await page.evaluate(() =>
    window.axe.run(document, { resultTypes: ["violations"] }),
  );
  const describe = (v) =>
    `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`;
  for (const v of violations.filter((v) => v.impact !== "serious" && v.impact !== "critical")) {
    console.log(`    note: ${name}: ${describe(v)}`);
  }
  const blocking = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.equal(blocking.length, 0, `${name}: ${blocking.map(describe).join("; ")}`);
}

function nav(name) {
  return page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name, exact: true });
}

async function heading(text) {
  await page.getByRole("heading", { level: 1, name: text }).waitFor();
}

// Presses Tab until the focused element's accessible text is `name` (at most `max` presses),
// so a control that cannot be reached by keyboard fails the step.
async function tabTo(name, max = 60) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => {
      const e = document.activeElement;
      if (!e || e === document.body) return "";
      const label = e.labels && e.labels[0] ? e.labels[0].textContent : "";
      return (e.getAttribute("aria-label") || label || e.textContent || e.value || "").trim();
    });
    if (focused === name) return;
  }
  throw new Error(`"${name}" is not reachable with Tab`);
}

async function flash() {
  return (await page.locator(".flash").first().textContent()).trim();
}

async function connectionState() {
  return (await page.getByTestId("connection-state").textContent()).trim();
}

async function generateToken() {
  await page.goto(`${origin}/directory-sync`);
  await page.getByRole("button", { name: "Generate token" }).click();
  await heading("Your new token");
  assert.match(new URL(page.url()).pathname, /^\/directory-sync\/tokens\/new\//, "shown after a redirect");
  const secret = await page.locator("#token-secret").inputValue();
  assert.match(secret, /^scimd_/);
  return secret;
}

/** The CLI against the story's database; its stdout, trimmed. */
function cli(...args) {
  return execFileSync(scimdBin, [...args, "--database", database], { encoding: "utf8" }).trim();
}

/** Waits (at most 20 s) for a mailed message whose text matches `re`; undoes quoted-printable. */
async function mailMatching(re) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const text = await readFile(mailFile, "utf8").catch(() => "");
    const found = text
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .map((m) => ({ ...m, data: m.data.replace(/=\r?\n/g, "").replace(/=3D/g, "=") }))
      .find((m) => re.test(m.data));
    if (found) return found;
    assert.ok(Date.now() < deadline, `no e-mail matching ${re}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function signIn(email, password) {
  await page.goto(`${origin}/signin`);
  await heading("Sign in");
  await page.getByLabel("E-mail address").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

async function signOut() {
  await page.getByRole("button", { name: "Sign out" }).click();
  await heading("Sign in");
}

/** The code an authenticator app shows for `key` (base32), `steps` 30-second steps from now. */
function totpCode(key, steps = 0) {
  const totp = new OTPAuth.TOTP({
    secret: OTPAuth.Secret.fromBase32(key),
    algorithm: "SHA1",
    digits: 6,
    period: 30,
  });
  return totp.generate({ timestamp: Date.now() + steps * 30_000 });
}

async function tokenRows() {
  return page.locator("tr[data-token-id]").count();
}

// Set-up asks the organisation's name and kind, then lands signed in on the console.
async function setUpAndLandSignedIn() {
  await page.goto(setupLink);
  await heading("Set up scimd");
  await page.getByLabel("Organisation name").fill(ORG_NAME);
  assert.ok(await page.getByLabel("Business").isChecked(), "the kind offered first is the current one");
  await page.getByLabel("School").waitFor();
  await page.getByLabel("School").check();
  await page.getByText("Use an address your identity provider does not provision").waitFor();
  await page.getByLabel("E-mail address").fill(EMAIL);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
  await page.getByLabel("Password again").fill(PASSWORD);
  await screenshot("setup");
  await page.getByRole("button", { name: "Set up and sign in" }).click();
  await heading("Directory Sync");
  assert.equal(await page.locator(".org").textContent(), ORG_NAME);
  assert.equal(await connectionState(), "not connected");
  await screenshot("directory-sync-new");
  // The link is spent.
  const again = await fetch(setupLink);
  assert.equal(again.status, 410);
}

// The Tenant URL is on Directory Sync with its own Copy, which works from the keyboard.
async function copyTenantUrl() {
  await page.goto(`${origin}/directory-sync`);
  const field = await page.getByLabel("Tenant URL (SCIM base URL)").inputValue();
  assert.equal(field, `${origin}/scim/v2`);
  await page.getByRole("button", { name: "Copy the Tenant URL" }).focus();
  await page.keyboard.press("Enter");
  await page.locator("#tenant-url ~ .copied").getByText("Copied.").waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(copied, field, "the clipboard holds the Tenant URL");
}

// A reload of the one-time page neither shows the token again nor makes another.
async function reloadMakesNoToken() {
  state.second = await generateToken();
  await page.goto(`${origin}/directory-sync`);
  const before = await tokenRows();
  await page.goBack();
  await page.reload();
  await heading("Token already shown");
  assert.ok(!(await page.content()).includes(state.second), "not shown twice");
  await screenshot("token-already-shown");
  await page.goto(`${origin}/directory-sync`);
  assert.equal(await tokenRows(), before, "the reload made no token");
  // Two live tokens: Generate is disabled, with the reason.
  assert.ok(await page.getByRole("button", { name: "Generate token" }).isDisabled());
  await page.getByText("revoke one to generate another").waitFor();
}

// Revoke asks first; the last live token's Revoke is disabled with the reason.
async function revokeAfterConfirming() {
  await page.goto(`${origin}/directory-sync`);
  const firstPrefix = state.first.slice(0, 12);
  const secondPrefix = state.second.slice(0, 12);
  await page.getByRole("link", { name: `Revoke token ${firstPrefix}` }).click();
  await heading("Revoke token");
  await screenshot("revoke-confirm");
  assert.equal((await scim("GET", "/Users", state.first)).status, 200, "not before confirming");
  await page.getByRole("button", { name: "Revoke" }).click();
  await heading("Directory Sync");
  assert.match(await flash(), /token is revoked/);
  assert.equal((await scim("GET", "/Users", state.first)).status, 401);
  const last = page.getByRole("button", { name: `Revoke token ${secondPrefix}` });
  assert.ok(await last.isDisabled(), "the last live token cannot be revoked");
  await page.getByText("The last live token cannot be revoked: disconnect instead.").waitFor();
  await screenshot("revoke-last-disabled");
  assert.equal((await scim("GET", "/Users", state.second)).status, 200);
}

// ---- the story

const state = {};
const steps = [
  ["set up the organisation and its first administrator through the printed link", setUpAndLandSignedIn],

  ["copy the Tenant URL from Directory Sync", copyTenantUrl],

  ["generate a token, copy it from the page, close", async () => {
    const secret = await generateToken();
    await screenshot("token-generated");
    await page.getByRole("button", { name: "Copy the token" }).click();
    await page.locator("#token-secret ~ .copied").getByText("Copied.").waitFor();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(copied, secret, "the clipboard holds the token shown");
    state.first = copied;
    await page.getByRole("button", { name: "Close" }).click();
    await heading("Directory Sync");
    assert.equal(await connectionState(), "pending");
    assert.ok(!(await page.content()).includes(secret), "the secret is shown once only");
    assert.equal(await page.locator("[data-testid=last-used]").first().textContent(), "never");
  }],

  ["use the token for a SCIM call; the connection turns active and last use shows", async () => {
    const r = await scim("POST", "/Users", state.first, user("grace@example.com", "Grace Hopper"));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    await page.reload();
    assert.equal(await connectionState(), "active");
    const lastUsed = (await page.locator("[data-testid=last-used]").first().textContent()).trim();
    assert.match(lastUsed, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/);
    await screenshot("directory-sync-active");
  }],

  ["reloading a new token's page shows it was already shown and makes no token", reloadMakesNoToken],

  ["revoke a token after confirming; the last live one cannot be revoked", revokeAfterConfirming],

  ["create a manual account", async () => {
    await nav("Accounts").click();
    await heading("Accounts");
    await page.getByRole("link", { name: "New account" }).click();
    await heading("New account");
    await page.getByLabel("User name").fill("linus@example.com");
    await page.getByLabel("Given name").fill("Linus");
    await page.getByLabel("Family name").fill("Torvalds");
    await page.getByLabel("E-mail address").fill("linus@example.com");
    await screenshot("account-new");
    await page.getByRole("button", { name: "Create account" }).click();
    await heading("linus@example.com");
    assert.match(await flash(), /account is created/);
    await nav("Accounts").click();
    await page.getByLabel("Source").selectOption("manual");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.getByRole("link", { name: "linus@example.com" }).waitFor();
    assert.equal(await page.getByRole("link", { name: "grace@example.com" }).count(), 0);
    await screenshot("accounts-manual");
  }],

  ["the keyboard alone: skip link, a search, a section link", async () => {
    await page.goto(`${origin}/accounts`);
    await heading("Accounts");
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.textContent.trim()), "Skip to content");
    await page.keyboard.press("Enter");
    await tabTo("Search");
    await page.keyboard.type("linus");
    await tabTo("Apply");
    await page.keyboard.press("Enter");
    await page.getByRole("link", { name: "linus@example.com" }).waitFor();
    assert.equal(await page.getByRole("link", { name: "grace@example.com" }).count(), 0);
    await page.goto(`${origin}/accounts`);
    await tabTo("Groups");
    await page.keyboard.press("Enter");
    await heading("Groups");
  }],

  ["provisioning the same userName makes a conflict; Download conflicts; Merge", async () => {
    const r = await scim("POST", "/Users", state.second, user("linus@example.com", "Linus Torvalds"));
    assert.equal(r.status, 409, JSON.stringify(r.body));
    await nav("Directory Sync").click();
    await heading("Directory Sync");
    await page.getByRole("heading", { name: "Conflicts" }).waitFor();
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: "Download conflicts" }).click(),
    ]);
    const csv = await readFile(await download.path(), "utf8");
    assert.match(csv, /^userName,/);
    assert.match(csv, /linus@example\.com/);
    await screenshot("conflict");
    await page.getByRole("button", { name: "Merge linus@example.com" }).click();
    assert.match(await flash(), /conflict is merged/);
    assert.equal(await page.getByRole("button", { name: "Merge all" }).count(), 0);
    // The identity provider's next cycle finds the account.
    const found = await scim("GET", `/Users?filter=${encodeURIComponent('userName eq "linus@example.com"')}`, state.second);
    assert.equal(found.body.totalResults, 1);
  }],

  ["edit a local property of a synced account", async () => {
    await nav("Accounts").click();
    await page.getByLabel("Search").fill("linus");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.getByRole("link", { name: "linus@example.com" }).click();
    await heading("linus@example.com");
    await page.getByText("Managed by directory sync.").first().waitFor();
    await page.getByLabel("Locations").fill("Helsinki");
    await page.getByRole("button", { name: "Save local properties" }).click();
    assert.match(await flash(), /local properties are saved/);
    assert.equal(await page.getByLabel("Locations").inputValue(), "Helsinki");
    // A role by hand, from the catalogue; the default role gives way to it.
    await page.getByLabel("Set a role by hand").selectOption("staff");
    await page.getByRole("button", { name: "Add role" }).click();
    assert.match(await flash(), /role is set by hand/);
    const row = page.locator("tr[data-role=staff]");
    await row.getByRole("cell", { name: "set by hand" }).waitFor();
    assert.equal(await page.locator("tr[data-role=student]").count(), 0);
    await screenshot("account-synced");
  }],

  ["a synced account offers only its local properties, attributes read by label", async () => {
    assert.equal(await page.getByRole("link", { name: "Edit attributes" }).count(), 0);
    const attrs = page.locator("dl.attributes");
    await attrs.getByText("Family name").waitFor();
    assert.equal(await attrs.getByText("name.familyName").count(), 0);
    // The attributes form itself leads back to the account's page.
    const url = page.url();
    await page.goto(`${url}/edit`);
    await heading("linus@example.com");
    await screenshot("synced-account-local-only");
  }],

  ["a group's members found, and a manual group made, filled, emptied and deleted", async () => {
    const found = await scim("GET", `/Users?filter=${encodeURIComponent('userName eq "linus@example.com"')}`, state.second);
    const linus = found.body.Resources[0].id;
    const g = await scim("POST", "/Groups", state.second, {
      schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"],
      displayName: "Kernel",
      members: [{ value: linus }],
    });
    assert.equal(g.status, 201, JSON.stringify(g.body));
    await nav("Groups").click();
    await heading("Groups");
    await page.getByRole("link", { name: "Kernel" }).click();
    await heading("Kernel");
    await page.getByLabel("Find a member").fill("torv");
    await page.getByRole("button", { name: "Find" }).click();
    await page.getByRole("link", { name: "linus@example.com" }).waitFor();
    assert.equal(await page.getByRole("button", { name: "Add member" }).count(), 0);
    await screenshot("group-members");

    await nav("Groups").click();
    await page.getByRole("link", { name: "New group" }).click();
    await heading("New group");
    await page.getByLabel("Name").fill("Volunteers");
    await page.getByRole("button", { name: "Create group" }).click();
    assert.match(await flash(), /group is created/);
    await page.getByLabel("Add an account by user name").fill("nobody@example.com");
    await page.getByRole("button", { name: "Add member" }).click();
    await page.locator("#userName-error").waitFor();
    await screenshot("manual-group-refused");
    await page.getByLabel("Add an account by user name").fill("linus@example.com");
    await page.getByRole("button", { name: "Add member" }).click();
    assert.match(await flash(), /added to the group/);
    assert.equal((await page.locator("#member-count").textContent()).trim(), "1");
    await screenshot("manual-group");
    await page.getByRole("button", { name: "Remove linus@example.com from the group" }).click();
    assert.match(await flash(), /removed from the group/);
    await page.getByRole("link", { name: "Delete group…" }).click();
    await screenshot("manual-group-delete");
    await page.getByRole("button", { name: "Delete group" }).click();
    assert.match(await flash(), /group is deleted/);
    assert.equal(await page.getByRole("link", { name: "Volunteers" }).count(), 0);
  }],

  ["a rule: member of group Teachers gives teacher, applied to provisioned accounts and again when changed", async () => {
    const linus = await scim("GET", `/Users?filter=${encodeURIComponent('userName eq "linus@example.com"')}`, state.second);
    const grace = await scim("GET", `/Users?filter=${encodeURIComponent('userName eq "grace@example.com"')}`, state.second);
    state.linus = linus.body.Resources[0].id;
    state.grace = grace.body.Resources[0].id;
    const g = await scim("POST", "/Groups", state.second, {
      schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"],
      displayName: "Teachers",
      members: [{ value: state.linus }, { value: state.grace }],
    });
    assert.equal(g.status, 201, JSON.stringify(g.body));
    state.teachers = g.body.id;

    await nav("Roles").click();
    await heading("Roles");
    // A school's catalogue has teacher already; the school adds a role of its own.
    await page.getByLabel("New role").fill("counsellor");
    await page.getByRole("button", { name: "Add role" }).click();
    assert.match(await flash(), /role is added/);
    await page.getByLabel("Name", { exact: true }).fill("Teachers");
    await page.getByLabel("Condition").selectOption("memberOf");
    await page.getByLabel("Value or group").fill("Teachers");
    await page.getByRole("group", { name: "Roles it gives" }).getByLabel("teacher").check();
    await page.getByRole("button", { name: "Create rule" }).click();
    assert.match(await flash(), /rule is created and applied/);
    await page.getByRole("cell", { name: "when member of 'Teachers': roles teacher" }).waitFor();
    await screenshot("roles");

    await page.goto(`${origin}/accounts/${state.grace}`);
    await heading("grace@example.com");
    await page.locator("tr[data-role=teacher]").getByRole("cell", { name: "rule \u201cTeachers\u201d" }).waitFor();
    assert.equal(await page.locator("tr[data-role=student]").count(), 0);
    await screenshot("account-role-from-rule");

    // The identity provider takes grace out of the group: the role goes, the default is back.
    const out = await scim("PATCH", `/Groups/${state.teachers}`, state.second, {
      schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      Operations: [{ op: "remove", path: `members[value eq "${state.grace}"]` }],
    });
    assert.equal(out.status, 204, JSON.stringify(out.body));
    await page.reload();
    await page.locator("tr[data-role=student]").waitFor();
    assert.equal(await page.locator("tr[data-role=teacher]").count(), 0);

    // The rule changes to another group: applied to everyone again; linus keeps his hand-set role.
    await nav("Roles").click();
    await page.getByRole("link", { name: "Edit the rule Teachers" }).click();
    await heading("Edit rule");
    await page.getByLabel("Value or group").fill("Faculty");
    await screenshot("role-rule-edit");
    await page.getByRole("button", { name: "Save and apply" }).click();
    assert.match(await flash(), /applied to every account again/);
    await page.goto(`${origin}/accounts/${state.linus}`);
    await heading("linus@example.com");
    await page.locator("tr[data-role=staff]").waitFor();
    assert.equal(await page.locator("tr[data-role=teacher]").count(), 0);
    // An unknown role by hand is refused next to its field (the page offers only the catalogue).
  }],

  ["bulk assign a role from the accounts list, by keyboard", async () => {
    await nav("Accounts").click();
    await heading("Accounts");
    await page.getByLabel("Choose grace@example.com").check();
    await page.getByLabel("Choose linus@example.com").focus();
    await page.keyboard.press("Space");
    await page.getByLabel("Role", { exact: true }).selectOption("counsellor");
    await screenshot("accounts-bulk");
    await tabTo("Assign role");
    await page.keyboard.press("Enter");
    assert.match(await flash(), /role is given to the chosen accounts/);
    assert.ok((await page.getByRole("cell", { name: /counsellor/ }).count()) >= 2);
    // Nothing chosen: refused on the page, next to the role field.
    await page.getByRole("button", { name: "Assign role" }).click();
    await page.locator("#bulk-role-error").waitFor();
  }],

  ["a held userName is released, and the identity provider can give it again at once", async () => {
    const body = user("leaver@example.com", "Lee Leaver");
    const u = await scim("POST", "/Users", state.second, body);
    assert.equal(u.status, 201, JSON.stringify(u.body));
    assert.equal((await scim("DELETE", `/Users/${u.body.id}`, state.second)).status, 204);
    assert.equal((await scim("POST", "/Users", state.second, body)).status, 409, "held after the deletion");
    await page.goto(`${origin}/accounts/${u.body.id}`);
    await heading("leaver@example.com");
    await page.getByRole("heading", { name: "User name held" }).waitFor();
    await screenshot("account-held");
    await page.getByRole("button", { name: "Release the user name now" }).click();
    assert.match(await flash(), /held user name is released/);
    assert.equal((await scim("POST", "/Users", state.second, body)).status, 201, "free again");
  }],

  ["groups, domains, activity and settings pages", async () => {
    const g = await scim("POST", "/Groups", state.second, {
      schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"],
      displayName: "Engineering",
    });
    assert.equal(g.status, 201, JSON.stringify(g.body));
    await nav("Groups").click();
    await heading("Groups");
    await page.getByRole("cell", { name: "Engineering" }).waitFor();
    await screenshot("groups");

    await nav("Domains").click();
    await heading("Domains");
    await page.getByLabel("Domain").fill("example.com");
    await page.getByRole("button", { name: "Add domain" }).click();
    assert.match(await flash(), /domain is added/);
    const txt = (await page.locator("code.txt").first().textContent()).trim();
    assert.ok(txt.length > 20, txt);
    // The server resolves with a name server on loopback that does not answer: a refusal.
    await page.getByRole("button", { name: "Verify example.com" }).click();
    await page.locator(".flash.error").waitFor();
    await screenshot("domains");

    await nav("Activity").click();
    await heading("Activity");
    await page.getByLabel("Action").fill("token.");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.getByRole("cell", { name: "token.revoke" }).first().waitFor();
    assert.ok((await page.getByRole("cell", { name: `admin:${EMAIL}` }).count()) >= 3);
    await screenshot("activity");

    await nav("Settings").click();
    await heading("Settings");
    await page.getByRole("cell", { name: EMAIL }).waitFor();
    await page.getByText("SMTP is configured").waitFor();
    await screenshot("settings");
  }],

  ["disconnect, behind a confirmation", async () => {
    await nav("Directory Sync").click();
    await page.getByRole("link", { name: "Disconnect" }).click();
    await heading("Disconnect directory sync");
    await screenshot("disconnect-confirm");
    await page.getByRole("button", { name: "Disconnect" }).click();
    await heading("Directory Sync");
    assert.match(await flash(), /disconnected/);
    assert.equal(await connectionState(), "disconnected");
    assert.equal((await scim("GET", "/Users", state.second)).status, 401);
    await screenshot("directory-sync-disconnected");
    await nav("Accounts").click();
    await page.getByLabel("Source").selectOption("scim");
    await page.getByRole("button", { name: "Apply" }).click();
    await page.getByText("0 accounts.").waitFor();
  }],

  ["sign out", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await heading("Sign in");
    await page.goto(`${origin}/directory-sync`);
    await heading("Sign in");
  }],

  ["sign in again by e-mail alone", async () => {
    await signIn(EMAIL.toUpperCase(), PASSWORD);
    await heading("Directory Sync");
    await signOut();
  }],

  ["one address in two organisations: choose one and land in it", async () => {
    state.second = cli("org", "create", "Second School", "--kind", "school").split("\n").pop();
    const file = join(artifacts, "second-password");
    await writeFile(file, `${PASSWORD}\n`);
    cli("admin", "add", "--org", state.second, "--email", EMAIL, "--password-file", file);
    await signIn(EMAIL, PASSWORD);
    await heading("Choose an organisation");
    await screenshot("choose-organisation");
    await page.getByLabel("Second School").check();
    await page.getByRole("button", { name: "Continue" }).click();
    await heading("Directory Sync");
    await nav("Settings").click();
    await heading("Settings");
    assert.ok((await page.content()).includes(state.second), "signed in to the chosen one");
    await signOut();
  }],

  ["forgotten password: a link by e-mail sets a new one and signs in", async () => {
    await page.goto(`${origin}/signin`);
    await page.getByRole("link", { name: "Forgot password?" }).click();
    await heading("Forgot password");
    await page.getByLabel("E-mail address").fill(EMAIL);
    await page.getByRole("button", { name: "Send a reset link" }).click();
    await page.getByText("If an administrator uses this e-mail address").waitFor();
    await screenshot("forgot-password-sent");
    const mail = await mailMatching(new RegExp(`/password/${orgId}/`));
    assert.deepEqual(mail.to, [EMAIL]);
    const link = mail.data.match(/http:\/\/\S+/)[0];
    await page.goto(link);
    await heading("Set a new password");
    state.newPassword = "a new passphrase from the link";
    await page.getByLabel("New password", { exact: true }).fill(state.newPassword);
    await page.getByLabel("New password again").fill(state.newPassword);
    await screenshot("set-password");
    await page.getByRole("button", { name: "Set password and sign in" }).click();
    await heading("Directory Sync");
    assert.equal((await fetch(link)).status, 410, "the link works once");
    await signOut();
    // The new password matches one organisation only: straight in, no chooser.
    await signIn(EMAIL, state.newPassword);
    await heading("Directory Sync");
    await nav("Settings").click();
    assert.ok((await page.content()).includes(orgId));
    await signOut();
  }],

  ["two-step verification: enrol with the key shown, save the recovery codes once", async () => {
    await signIn(EMAIL, state.newPassword);
    await heading("Directory Sync");
    await nav("Settings").click();
    await heading("Settings");
    await page.getByRole("link", { name: "Set up two-step verification" }).click();
    await heading("Two-step verification");
    await page.getByRole("img", { name: "QR code for the authenticator app" }).waitFor();
    await screenshot("two-step-enrol");
    state.totpKey = await page.getByLabel("Key (if you cannot scan)").inputValue();
    assert.match(state.totpKey, /^[A-Z2-7]{32}$/);
    await page.getByLabel("Enter the 6-digit code").fill(totpCode(state.totpKey));
    await page.getByRole("button", { name: "Turn on two-step verification" }).click();
    await heading("Your recovery codes");
    assert.match(new URL(page.url()).pathname, /^\/settings\/two-step\/recovery-codes\//, "shown after a redirect");
    state.recoveryCodes = (await page.locator("#recovery-codes li").allTextContents()).map((c) => c.trim());
    assert.equal(state.recoveryCodes.length, 10);
    await screenshot("two-step-recovery-codes");
    await page.reload();
    await heading("Recovery codes already shown");
    assert.ok(!(await page.content()).includes(state.recoveryCodes[0]), "the codes are shown once only");
    await page.goto(`${origin}/settings/two-step`);
    assert.equal((await page.locator("#two-step-status").textContent()).trim(), "on");
    await signOut();
  }],

  ["sign in with the password, then a code from the app", async () => {
    await signIn(EMAIL, state.newPassword);
    await heading("Two-step verification");
    await screenshot("two-step-sign-in");
    // The next step's code: the one that confirmed the enrolment cannot be used again.
    await page.getByLabel("Enter the 6-digit code").fill(totpCode(state.totpKey, 1));
    await page.getByRole("button", { name: "Verify" }).click();
    await heading("Directory Sync");
    await signOut();
  }],

  ["sign in with a recovery code instead; it works once", async () => {
    await signIn(EMAIL, state.newPassword);
    await heading("Two-step verification");
    await page.getByRole("link", { name: "Use a recovery code" }).click();
    await page.getByLabel("Recovery code").fill(state.recoveryCodes[0]);
    await screenshot("two-step-recovery-sign-in");
    await page.getByRole("button", { name: "Verify" }).click();
    await heading("Directory Sync");
    await nav("Settings").click();
    await page.getByText("9 of 10 recovery codes left").waitFor();
    await signOut();
    await signIn(EMAIL, state.newPassword);
    await page.getByRole("link", { name: "Use a recovery code" }).click();
    await page.getByLabel("Recovery code").fill(state.recoveryCodes[0]);
    await page.getByRole("button", { name: "Verify" }).click();
    await page.locator(".flash.error").waitFor();
    assert.match(await flash(), /already used/);
    await screenshot("two-step-recovery-refused");
  }],

  ["an invited colleague chooses their own password from the e-mailed link", async () => {
    await signIn(EMAIL, state.newPassword);
    await heading("Two-step verification");
    await page.getByRole("link", { name: "Use a recovery code" }).click();
    await page.getByLabel("Recovery code").fill(state.recoveryCodes[1]);
    await page.getByRole("button", { name: "Verify" }).click();
    await heading("Directory Sync");
    await nav("Settings").click();
    await page.locator("#invite-email").fill("colleague@example.com");
    await page.locator("#invite-role").selectOption("administrator");
    await page.getByRole("button", { name: "Invite", exact: true }).click();
    assert.match(await flash(), /invited/);
    await screenshot("invited");
    const mail = await mailMatching(/colleague@example\.com/);
    assert.deepEqual(mail.to, ["colleague@example.com"]);
    const link = mail.data.match(/http:\/\/\S+\/password\/\S+/)[0];
    // The colleague, in a browser of their own.
    const theirs = await browser.newContext();
    const colleague = await theirs.newPage();
    await colleague.goto(link);
    await colleague.getByRole("heading", { level: 1 }).waitFor();
    const chosen = "the colleague's own passphrase";
    await colleague.getByLabel("New password", { exact: true }).fill(chosen);
    await colleague.getByLabel("New password again").fill(chosen);
    await colleague.getByRole("button", { name: "Set password and sign in" }).click();
    await colleague.getByRole("heading", { level: 1, name: "Directory Sync" }).waitFor();
    assert.equal((await fetch(link)).status, 410, "the invitation works once");
    await theirs.close();
  }],
];

let passed = 0;
let failed = 0;
for (const [name, run] of steps) {
  try {
    await run();
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`not ok - ${name}`);
    console.log(String(e && e.stack ? e.stack : e).replace(/^/gm, "    "));
    await screenshot("failure").catch(() => {});
    break;
  }
}
const skipped = steps.length - passed - failed;
await browser.close();
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed === 0 && skipped === 0 ? 0 : 1);
