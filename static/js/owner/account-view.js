// The account page: storage against the quota, password change, the recovery key again
// (after the password), and the signed-in devices with "Sign out".

import * as A from "../core/account.js";
import * as C from "../core/crypto.js";
import { formatBytes } from "../core/present.js";
import { account, call } from "./owner-api.js";
import { derive, keepMasterKey, openIdentity, openWithPassword } from "./keys.js";
import { $, confirmAction, describe, formatDate, onSubmit, refused, setBusy, show, showError } from "./ui.js";

const MIN_PASSWORD = 10;

/** The password's login key, or a clear refusal when it is not the account's (checked locally first). */
async function proveWith(me, password) {
  try {
    return await openWithPassword(me, password);
  } catch (error) {
    if (error && error.name === "DecryptionError") throw refused("That is not your current password.");
    throw error;
  }
}

export async function start({ me, mk }) {
  const section = $("#account");
  let current = me;
  // What others compare with the number they see for this account (docs/format.md, "Derivations": fingerprint).
  $("[data-slot=safety]", section).textContent = openIdentity(me, mk).fingerprint;

  function showStorage() {
    const bar = $("[data-slot=storage-bar]", section);
    bar.value = current.quota_bytes ? Math.min(1, current.bytes_used / current.quota_bytes) : 0;
    $("[data-slot=storage]", section).textContent =
      `${formatBytes(current.bytes_used)} of ${formatBytes(current.quota_bytes)} used. Only encrypted bytes are counted.`;
  }
  showStorage();

  // --- e-mail digests (issue 14): off by default, counts only (docs/design.md, "Activity and digests")
  const digest = $("[data-slot=digest]", section);
  const digestStatus = $("[data-slot=digest-status]", section);
  const digestError = $("[data-slot=digest-error]", section);
  function showDigest(answer) {
    digest.checked = Boolean(answer.enabled);
    const noMail = "This server has no mail set up yet, so no summary goes out until its operator sets it up.";
    digestStatus.textContent = answer.enabled && answer.mail === false ? noMail : "";
  }
  try {
    showDigest(await call("GET", "/api/owner/activity/digest"));
  } catch (error) {
    digest.disabled = true;
    showError(digestError, `Your e-mail summary setting could not be loaded: ${describe(error)}`);
  }
  digest.addEventListener("change", async () => {
    const wanted = digest.checked;
    digest.disabled = true;
    digestError.hidden = true;
    setBusy(digestStatus, "Saving…");
    try {
      showDigest(await call("PUT", "/api/owner/activity/digest", { enabled: wanted }));
      const saved = wanted ? "Saved: you will get a summary of new activity." : "Saved: no summaries.";
      if (!digestStatus.textContent) digestStatus.textContent = saved;
    } catch (error) {
      digest.checked = !wanted;
      setBusy(digestStatus, "");
      showError(digestError, `The setting was not saved: ${describe(error)}`);
    } finally {
      digest.disabled = false;
    }
  });

  // --- password --------------------------------------------------------------------------
  const passwordForm = $("#password-form");
  onSubmit(passwordForm, async ({ current: old, password, confirm }) => {
    if (String(password).length < MIN_PASSWORD) throw refused(`Choose a password of at least ${MIN_PASSWORD} characters.`);
    if (password !== confirm) throw refused("The two new passwords are not the same.");
    const status = $("[data-slot=status]", passwordForm);
    setBusy(status, "Checking your current password…");
    const { mk, keys } = await proveWith(current, String(old));
    setBusy(status, "Making the keys of your new password…");
    const change = await derive("changePassword", { masterKey: mk, accountId: current.account_id, password: String(password) });
    const answer = await account.changePassword({
      login_key: C.b64e(keys.loginKey),
      new_params: change.params,
      new_login_key: C.b64e(change.keys.loginKey),
      sealed_mk: C.b64e(change.sealedMasterKey),
    });
    current = answer.account;
    keepMasterKey(mk);
    passwordForm.reset();
    const others = answer.sessions_ended;
    setBusy(
      status,
      others
        ? `Your password is changed. ${others === 1 ? "One other device was" : `${others} other devices were`} signed out.`
        : "Your password is changed.",
    );
    await showDevices();
  });

  // --- recovery key ----------------------------------------------------------------------
  const rkForm = $("#rk-form");
  const words = $("[data-slot=words]", section);
  onSubmit(rkForm, async ({ password }) => {
    const { mk, keys } = await proveWith(current, String(password));
    const { sealed_rk: sealed } = await account.recoveryKey(C.b64e(keys.loginKey));
    const rk = A.openRecoveryKey(mk, C.b64d(sealed), current.account_id);
    words.replaceChildren(
      ...A.recoveryWords(rk)
        .split(" ")
        .map((word) => {
          const li = document.createElement("li");
          li.textContent = word;
          return li;
        }),
    );
    words.hidden = false;
    rkForm.reset();
  });

  // --- devices ---------------------------------------------------------------------------
  const list = $("[data-slot=devices]", section);
  const template = $("#device-row");
  async function showDevices() {
    const { sessions } = await account.sessions();
    list.replaceChildren(
      ...sessions.map((row) => {
        const li = template.content.firstElementChild.cloneNode(true);
        $("[data-slot=label]", li).textContent = row.label;
        $("[data-slot=current]", li).hidden = !row.current;
        const facts = `signed in ${formatDate(row.created_at)} · last seen ${formatDate(row.last_seen_at)}`;
        $("[data-slot=facts]", li).textContent = facts;
        $("[data-action=sign-out]", li).addEventListener("click", async () => {
          const ok = await confirmAction(
            row.current ? "Sign out of this device?" : `Sign out ${row.label}?`,
            "It will need the password to open your albums again.",
            "Sign out",
          );
          if (!ok) return;
          try {
            await account.endSession(row.session_id);
          } catch (error) {
            showError($("[data-slot=error]", section), describe(error));
            return;
          }
          if (row.current) location.assign("/login");
          else await showDevices();
        });
        return li;
      }),
    );
  }
  await showDevices();

  // --- owner tokens ----------------------------------------------------------------------
  const tokenList = $("[data-slot=tokens]", section);
  const tokenTemplate = $("#token-row");
  const tokenForm = $("#token-form");
  const fresh = $("[data-slot=new-token]", section);
  async function showTokens() {
    const { tokens } = await account.tokens();
    tokenList.replaceChildren(
      ...tokens.map((row) => {
        const li = tokenTemplate.content.firstElementChild.cloneNode(true);
        $("[data-slot=label]", li).textContent = row.label || "Token";
        $("[data-slot=facts]", li).textContent = `made ${formatDate(row.created_at)}`;
        $("[data-action=revoke]", li).addEventListener("click", async () => {
          const title = `Revoke ${row.label || "this token"}?`;
          const ok = await confirmAction(title, "Scripts that use it stop working at once.", "Revoke");
          if (!ok) return;
          try {
            await account.deleteToken(row.token_id);
          } catch (error) {
            showError($("[data-slot=error]", section), describe(error));
            return;
          }
          fresh.hidden = true;
          await showTokens();
        });
        return li;
      }),
    );
  }
  onSubmit(tokenForm, async ({ label }) => {
    const name = String(label).trim();
    if (!name) throw refused("Give the token a name, so you know later what uses it.");
    const made = await account.createToken(name);
    $("[data-slot=token]", fresh).textContent = made.token;
    fresh.hidden = false;
    tokenForm.reset();
    await showTokens();
  });
  await showTokens();
  show(section);
}
