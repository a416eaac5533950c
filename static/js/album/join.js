// "Add to my albums": a signed-in visitor of a link joins its album (docs/api.md, "Joining from a link").
//
// Shown only to someone signed in on this server (GET /api/account/status, with the cookie), and
// never on an upload-only link (its visitors must not see the album).
// The album key stays in the album Worker, which seals it to the visitor's own X25519 public key.
// That key must be the visitor's own, not whatever the server says it is: a server that named
// its own key would receive the album key. So the page opens the visitor's identity from the
// account's sealed copy with the master key, which checks the server's box_pk against it
// (owner/keys.js openIdentity; docs/format.md, "What the server stores"). The master key comes
// from this tab's sessionStorage when the visitor came from the web app in this tab, or from the
// account's password (Argon2id in derive-worker.js), and is then kept there as the app keeps it.

import * as C from "../core/crypto.js";
import { ApiError, account, csrfToken } from "../owner/owner-api.js";
import { keepMasterKey, masterKey, openIdentity, openWithPassword } from "../owner/keys.js";

/**
 * @param {string} selector
 * @param {ParentNode} [root]
 * @returns {any}
 */
function $(selector, root = document) {
  return root.querySelector(selector);
}

/**
 * The signed-in account, or null (signed out, or the server could not say). GET /api/account/status
 * answers 200 either way, so a signed-out visit of the link logs no failed request; signed in (in
 * any tab of this browser), it also gives this tab the session's CSRF token.
 */
async function signedInAccount() {
  try {
    const answer = await account.status();
    return answer ? answer.account : null;
  } catch {
    return null; // the button is not worth an error page
  }
}

/** The visitor's verified identity from a master key, or null if this key is not the account's. */
function identityFrom(me, mk) {
  try {
    return openIdentity(me, mk);
  } catch (error) {
    // The key opened the sealed identity but the server's public keys are not the account's own.
    if (error && error.name === "FormatError") throw error;
    return null;
  }
}

/**
 * Ask for the account's password in the dialog; the master key, or null if the visitor cancelled.
 * Argon2id runs while the dialog stays open, so a wrong password is said there.
 */
function askPassword(me) {
  const dialog = $("#join-dialog");
  const form = $("form", dialog);
  const input = $("input[type=password]", form);
  const message = $("[data-slot=message]", form);
  const progress = $("[data-slot=progress]", form);
  const ok = $("button[value=ok]", form);
  $("[data-slot=email]", dialog).textContent = me.email;
  const say = (text) => {
    message.textContent = text;
    message.hidden = !text;
  };
  input.value = "";
  say("");
  dialog.showModal();
  input.focus();
  return new Promise((resolve) => {
    let busy = false;
    const done = (mk) => {
      form.removeEventListener("submit", onSubmit);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      resolve(mk);
    };
    const onCancel = (event) => {
      if (busy) event.preventDefault();
      else done(null);
    };
    const onSubmit = async (event) => {
      event.preventDefault();
      if (busy) return;
      if (!event.submitter || event.submitter.value !== "ok") return done(null);
      const password = input.value;
      if (!password) return say("Type the password of your account.");
      say("");
      busy = true;
      progress.hidden = false;
      ok.disabled = true;
      input.readOnly = true;
      try {
        const { mk } = await openWithPassword(me, password);
        done(mk);
      } catch (error) {
        if (error && error.name === "DecryptionError") {
          say("That is not the password of this account.");
          input.select();
        } else if (error && error.name === "NetworkError") {
          say("Could not reach the server. Check your connection, then try again.");
        } else {
          say("Your account's keys could not be opened on this device.");
        }
      } finally {
        busy = false;
        progress.hidden = true;
        ok.disabled = false;
        input.readOnly = false;
      }
    };
    form.addEventListener("submit", onSubmit);
    dialog.addEventListener("cancel", onCancel);
  });
}

/** The visitor's identity: from this tab's master key, else from the password; null if they cancelled. */
async function visitorIdentity(me) {
  await C.ready(); // libsodium on this thread, only now: the page's own crypto is all in the album Worker
  const kept = masterKey();
  const fromKept = kept ? identityFrom(me, kept) : null;
  if (fromKept) return fromKept;
  const mk = await askPassword(me);
  if (!mk) return null;
  const identity = identityFrom(me, mk);
  if (!identity) throw new Error("Your account's keys could not be opened on this device.");
  keepMasterKey(mk);
  return identity;
}

/** One sentence for what went wrong. */
function sentence(error) {
  if (error && error.name === "FormatError") {
    return "This server's public key for your account is not your own, so the album was not added. Tell the server's operator.";
  }
  if (error && error.name === "NetworkError") return "Could not reach the server. Check your connection, then try again.";
  if (error instanceof ApiError || (error && error.name === "ApiError")) return error.message;
  if (error && typeof error.message === "string" && error.message.startsWith("Your account")) return error.message;
  console.warn("Fragment join:", error);
  return "The album could not be added to your albums.";
}

/**
 * Wire the "Add to my albums" panel of the album page.
 * @param {{call: (method: string, args?: object) => Promise<any>}} worker  the album Worker
 * @param {{uploads?: boolean, upload_only?: boolean}} info  the link's settings
 */
export async function wireJoin(worker, info) {
  if (info.upload_only) return;
  const me = await signedInAccount();
  if (!me) return;
  const panel = $("#join");
  const button = $("[data-action=join]", panel);
  const message = $("[data-slot=message]", panel);
  const done = $("[data-slot=done]", panel);
  const roles = $("[data-slot=roles]", panel);
  roles.hidden = !info.uploads;
  panel.hidden = false;
  const say = (text) => {
    message.textContent = text;
    message.hidden = !text;
  };
  const finish = (albumId, text) => {
    $("[data-slot=text]", done).textContent = text;
    $("a", done).href = `/app/albums/${encodeURIComponent(albumId)}`;
    done.hidden = false;
    button.hidden = true;
    roles.hidden = true;
  };
  button.addEventListener("click", async () => {
    if (button.disabled) return;
    say("");
    button.disabled = true;
    try {
      const identity = await visitorIdentity(me);
      if (!identity) return;
      const chosen = /** @type {HTMLInputElement | null} */ (panel.querySelector("input[name=join-role]:checked"));
      const role = info.uploads && chosen && chosen.value === "collaborator" ? "collaborator" : "viewer";
      const album = await worker.call("join", { boxPk: identity.boxPublicKey, role, csrf: csrfToken() });
      finish(album.album_id, "Added to your albums.");
    } catch (error) {
      if (error && error.name === "ApiError" && error.code === "exists" && error.body && error.body.album_id) {
        finish(error.body.album_id, error.message);
      } else {
        say(sentence(error));
      }
    } finally {
      button.disabled = false;
    }
  });
}
