// The owner's web app: sign-up, sign-in and recovery, and the signed-in views (albums, one
// album, the account), one per page (templates/owner.html's data-view).
//
// Every key is made and opened here, in the browser (docs/format.md, "Sign-up, sign-in,
// password change and recovery"); the server gets login keys, which it hashes, and sealed
// values. The text a person reads is in the template; this module fills in decrypted
// values and the server's own error sentences, always as text.

import * as A from "../core/account.js";
import * as C from "../core/crypto.js";
import { ApiError, account, call } from "./owner-api.js";
import { derive, forgetKeys, keepMasterKey, masterKey, openIdentity, openWithPassword } from "./keys.js";
import { acceptInvitation, openInvitation, safetyNumber } from "./sharing.js";
import { $, describe, hide, onSubmit, refused, setBusy, show, showError } from "./ui.js";
import { start as accountView } from "./account-view.js";
import { start as activityView } from "./activity-view.js";
import { start as albumView } from "./album-view.js";
import { start as albumsView } from "./albums-view.js";

const root = /** @type {HTMLElement} */ ($("#owner-app"));
const view = root.dataset.view || "";
const MIN_PASSWORD = 10;

/** Where to go after signing in: the page that sent here, if it is one of ours (the app, or an invitation). */
function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "";
  return /^\/(app|join\/)/.test(next) && !next.startsWith("//") ? next : "/app";
}

/** The checks of a new password, in the page's words; null when it will do. */
function passwordProblem(password, confirm) {
  if (password.length < MIN_PASSWORD) return `Choose a password of at least ${MIN_PASSWORD} characters.`;
  if (password !== confirm) return "The two passwords are not the same.";
  return null;
}

function emailProblem(email) {
  return /^[^@\s]+@[^@\s]+\.[^@\s.]+$/.test(email) ? null : "Enter your e-mail address, like name@example.org.";
}

// --- sign-up --------------------------------------------------------------------------

function signupView() {
  const section = $("#signup");
  const form = $("form", section);
  // An operator may send the sign-up page with the invitation in it (`make demo` prints one).
  const invited = new URLSearchParams(location.search).get("invitation");
  const code = form.querySelector("[name=invitation]");
  if (invited && code) code.value = invited;
  onSubmit(form, async ({ email, password, confirm, invitation }) => {
    email = String(email).trim();
    const problem = emailProblem(email) || passwordProblem(String(password), String(confirm));
    if (problem) throw refused(problem);
    setBusy($("[data-slot=status]", form), "Making your keys on this device… this takes a few seconds.");
    const made = await derive("newAccount", { password: String(password) });
    setBusy($("[data-slot=status]", form), "Creating your account…");
    const body = {
      email,
      account_id: made.accountId,
      params: made.params,
      login_key: C.b64e(made.keys.loginKey),
      recovery_login_key: C.b64e(made.recovery.loginKey),
      sealed_mk: C.b64e(made.sealedMasterKey),
      sealed_mk_rk: C.b64e(made.sealedMasterKeyRecovery),
      sealed_rk: C.b64e(made.sealedRecoveryKey),
      sealed_identity: C.b64e(made.sealedIdentity),
      box_pk: C.b64e(made.identity.boxPublicKey),
      sign_pk: C.b64e(made.identity.signPublicKey),
    };
    if (invitation !== undefined) Object.assign(body, { invitation: String(invitation).trim() });
    await account.signup(body);
    keepMasterKey(made.masterKey);
    hide(section);
    showWords(made.recoveryWords, email);
  });
}

/** The recovery words, once, with copy and download, and Continue only once they are saved. */
function showWords(words, email) {
  const section = $("#recovery-words");
  const list = $("[data-slot=words]", section);
  list.replaceChildren(
    ...words.split(" ").map((word) => {
      const li = document.createElement("li");
      li.textContent = word;
      return li;
    }),
  );
  const copied = $("[data-slot=copied]", section);
  $("[data-action=copy-words]", section).addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(words);
      copied.textContent = "Copied. Paste them somewhere safe, then clear your clipboard.";
    } catch {
      copied.textContent = "This browser did not let the page copy. Select the words and copy them yourself.";
    }
  });
  $("[data-action=download-words]", section).addEventListener("click", () => {
    const text =
      `Fragment recovery key for ${email}\n\n${words}\n\n` + "With these words you can set a new password if you forget yours.\n";
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = "fragment-recovery-key.txt";
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });
  const saved = $("[data-slot=saved]", section);
  const go = $("[data-action=continue]", section);
  saved.addEventListener("change", () => {
    go.disabled = !saved.checked;
  });
  go.addEventListener("click", () => location.assign(nextPage()));
  show(section);
  $("h1", section).focus();
}

// --- sign-in ----------------------------------------------------------------------------

function loginView() {
  const form = $("#login form");
  onSubmit(form, async ({ email, password }) => {
    email = String(email).trim();
    const problem = emailProblem(email) || (password ? null : "Enter your password.");
    if (problem) throw refused(problem);
    setBusy($("[data-slot=status]", form), "Signing in…");
    const { params } = await account.params(email);
    const keys = await derive("accountKeys", { password: String(password), params });
    const answer = await account.login(email, C.b64e(keys.loginKey));
    const { sealed_mk: sealed, account_id: accountId } = answer.account;
    const mk = openMasterKeyOrRefuse(() => A.openMasterKey(keys.kek, C.b64d(sealed), accountId));
    keepMasterKey(mk);
    location.assign(nextPage());
  });
}

/** The master key, or a clear refusal when the server's sealed copy does not open with a key it accepted. */
function openMasterKeyOrRefuse(open) {
  try {
    return open();
  } catch {
    throw refused(
      "The server accepted your key, but what it sent back does not open your albums." +
        " Nothing was changed; tell the server's operator.",
    );
  }
}

function recoverView() {
  const form = $("#recover form");
  onSubmit(form, async ({ email, words, password, confirm }) => {
    email = String(email).trim();
    const problem = emailProblem(email) || passwordProblem(String(password), String(confirm));
    if (problem) throw refused(problem);
    const rk = A.recoveryKey(String(words)); // RecoveryWordsError says what is wrong with the words
    const recovery = A.recoveryKeys(rk);
    setBusy($("[data-slot=status]", form), "Checking the recovery key…");
    const found = await account.recover(email, C.b64e(recovery.loginKey));
    const mk = openMasterKeyOrRefuse(() => A.openMasterKeyRecovery(recovery.kek, C.b64d(found.sealed_mk_rk), found.account_id));
    setBusy($("[data-slot=status]", form), "Making the keys of your new password…");
    const change = await derive("changePassword", { masterKey: mk, accountId: found.account_id, password: String(password) });
    await account.recoverReset({
      email,
      recovery_login_key: C.b64e(recovery.loginKey),
      new_params: change.params,
      new_login_key: C.b64e(change.keys.loginKey),
      sealed_mk: C.b64e(change.sealedMasterKey),
    });
    keepMasterKey(mk);
    location.assign("/app");
  });
}

// --- signed in -----------------------------------------------------------------------------

/** The signed-in account and this tab's master key (asking for the password when the tab has none). */
async function signedIn() {
  let me;
  try {
    me = await account.me();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      forgetKeys();
      location.replace(`/login?next=${encodeURIComponent(location.pathname)}`);
      return new Promise(() => {});
    }
    throw error;
  }
  for (const slot of document.querySelectorAll("[data-slot=email]")) slot.textContent = me.account.email;
  $("[data-action=sign-out]").addEventListener("click", async () => {
    try {
      await account.logout();
    } catch {
      // Signed out already, or offline: this tab forgets its keys either way.
    }
    forgetKeys();
    location.assign("/login");
  });
  const kept = masterKey();
  if (kept) return { me: me.account, mk: kept };
  hide($("#busy"));
  const section = $("#unlock");
  show(section);
  const form = $("form", section);
  $("input", form).focus();
  const mk = await new Promise((resolve) => {
    onSubmit(form, async ({ password }) => {
      try {
        const { mk: opened } = await openWithPassword(me.account, String(password));
        resolve(opened);
      } catch (error) {
        if (error && error.name === "DecryptionError") throw refused("That is not the password of this account.");
        throw error;
      }
    });
  });
  keepMasterKey(mk);
  hide(section);
  show($("#busy"));
  return { me: me.account, mk };
}

// --- an invitation to a shared album -------------------------------------------------------

const INCOMPLETE = "This invitation link is not complete. Open the whole link from the invitation you received.";
const ROLE_WORDS = { viewer: "see it", collaborator: "see it and add photos", admin: "see it, add photos and share it" };

/**
 * The invitation page: its secret is in the fragment (never sent), kept in this tab while the
 * invitee signs up or signs in, then used to take the album key and seal it to their own key.
 */
async function joinView() {
  const section = $("#join");
  const inviteId = root.dataset.inviteId || "";
  const kept = `fragment.invite:${inviteId}`;
  hide($("#busy"));
  const errorLine = $("[data-slot=error]", section);
  const text = $("[data-slot=text]", section);
  let secret;
  try {
    const fragment = location.hash.slice(1) || sessionStorage.getItem(kept) || "";
    secret = A.decodeInviteSecret(fragment);
    sessionStorage.setItem(kept, fragment);
    // Out of the address bar and the history: the invitation works once, and its key is in this tab now.
    history.replaceState(null, "", location.pathname + location.search);
  } catch {
    text.textContent = "";
    showError(errorLine, INCOMPLETE);
    return;
  }
  let opened;
  try {
    opened = await openInvitation(inviteId, secret);
  } catch (error) {
    text.textContent = "";
    const broken = error && error.name === "DecryptionError";
    showError(errorLine, broken ? INCOMPLETE : describe(error));
    return;
  }
  const { info, meta } = opened;
  const title = typeof meta.title === "string" && meta.title ? meta.title : "an album";
  const inviter = info.inviter ? info.inviter.email : "Someone";
  const role = ROLE_WORDS[info.role] || "see it";
  text.textContent = `${inviter} shares “${title}” with you. You will be able to ${role}.`;
  if (info.inviter) {
    $("[data-slot=inviter]", section).textContent = info.inviter.email;
    $("[data-slot=safety]", section).textContent = safetyNumber(info.inviter);
    show($("[data-slot=safety-line]", section));
  }
  let me;
  try {
    me = (await account.me()).account;
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) throw error;
    const here = location.pathname;
    const code = new URLSearchParams(location.search).get("invitation");
    const signup = new URLSearchParams({ next: here, ...(code ? { invitation: code } : {}) });
    $("[data-slot=signup]", section).href = `/signup?${signup}`;
    $("[data-slot=login]", section).href = `/login?${new URLSearchParams({ next: here })}`;
    show($("[data-slot=signed-out]", section));
    return;
  }
  const state = await signedIn();
  show($(".owner-bar"));
  hide($("#busy"));
  show(section);
  const accept = $("[data-action=accept]", section);
  show(accept);
  accept.addEventListener("click", async () => {
    accept.disabled = true;
    hide(errorLine);
    setBusy($("[data-slot=status]", section), "Sealing the album's key for your account…");
    try {
      const entry = await acceptInvitation(inviteId, secret, opened, me, state.mk, openIdentity(me, state.mk));
      sessionStorage.removeItem(kept);
      location.assign(`/app/albums/${encodeURIComponent(entry.album_id)}`);
    } catch (error) {
      setBusy($("[data-slot=status]", section), "");
      showError(errorLine, describe(error));
      accept.disabled = false;
    }
  });
}

/** The navigation's "Activity" with how many events by others the account has not seen (issue 14). */
async function showUnreadTotal() {
  const badge = document.querySelector("[data-slot=unread-total]");
  if (!(badge instanceof HTMLElement)) return;
  try {
    const { total } = await call("GET", "/api/owner/activity/unread");
    const count = Number.isSafeInteger(total) ? total : 0;
    badge.textContent = count ? `${count} new` : "";
    badge.hidden = count === 0;
    const link = badge.closest("a");
    if (link) link.setAttribute("aria-label", count ? `Activity, ${count} new` : "Activity");
  } catch {
    // Only a count: the page works without it, and the activity page itself says what failed.
  }
}

async function main() {
  await C.ready();
  if (view === "signup") return signupView();
  if (view === "login") return loginView();
  if (view === "recover") return recoverView();
  if (view === "join") return joinView();
  const state = await signedIn();
  showUnreadTotal();
  const views = { albums: albumsView, album: albumView, account: accountView, activity: activityView };
  const run = views[view];
  if (!run) throw refused("This page of the app does not exist. Go to your albums.");
  await run({ ...state, root });
  hide($("#busy"));
}

main().catch((error) => {
  const busy = $("#busy");
  if (busy) {
    $("[data-slot=text]", busy).textContent = describe(error);
    $("[data-slot=text]", busy).classList.add("error");
    const spinner = $(".spinner", busy);
    if (spinner) spinner.hidden = true;
  } else {
    console.warn("Fragment:", error);
  }
});
