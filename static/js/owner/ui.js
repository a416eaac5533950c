// Small page helpers of the owner's web app: finding, showing and hiding elements, and the
// sentence a person reads for any error. Every value from the server or from decrypted
// metadata is set as text, never as HTML.

import { formatMinutes } from "../core/present.js";

/**
 * The first element under root that matches.
 * @param {string} selector
 * @param {ParentNode} [root]
 * @returns {any}
 */
export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function show(element) {
  if (element) element.hidden = false;
}

export function hide(element) {
  if (element) element.hidden = true;
}

/** A status line (a live region): what the page is doing now, or nothing. */
export function setBusy(element, text) {
  if (element) element.textContent = text;
}

export function showError(element, text) {
  if (!element) return;
  element.textContent = text;
  element.hidden = false;
}

/** An error whose message is the page's own sentence for a person (describe shows it as it is). */
export function refused(message) {
  return Object.assign(new Error(message), { name: "Refused" });
}

/**
 * Wire a form: `run(values)` on submit, with the button held meanwhile and any error shown in
 * the form's error line (its status line, what the page was doing, is cleared then).
 */
export function onSubmit(form, run) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $("button[type=submit]", form);
    const values = Object.fromEntries(new FormData(form).entries());
    hide($("[data-slot=error]", form));
    button.disabled = true;
    try {
      await run(values);
    } catch (error) {
      setBusy($("[data-slot=status]", form), "");
      showError($("[data-slot=error]", form), describe(error));
    } finally {
      button.disabled = false;
    }
  });
}

/** What a person should read for an error: the server's own sentence, or the page's. */
export function describe(error) {
  if (!error) return "Something went wrong. Reload the page and try again.";
  switch (error.name) {
    case "Refused":
    case "KeyChanged":
    case "RecoveryWordsError":
    case "WeakPasswordParams":
      return error.message;
    case "NetworkError":
      return "Could not reach the server. Check your connection, then try again.";
    case "ApiError":
      if (error.status === 429 && error.retryAfter) {
        return `Too many wrong attempts. Try again in ${formatMinutes(error.retryAfter)}.`;
      }
      return error.message;
    case "DecryptionError":
      return "This could not be decrypted: it was changed, or the key is not the right one.";
    case "WorkerFailed":
      return "This browser stopped the page's encryption worker. Reload the page and try again.";
    default:
      console.warn("Fragment:", error);
      return "Something went wrong on this page. Reload it and try again.";
  }
}

/** Ask a yes-or-no question in the page's confirm dialog; true for yes. */
export function confirmAction(title, text, ok) {
  const dialog = $("#confirm-dialog");
  $("[data-slot=title]", dialog).textContent = title;
  $("[data-slot=text]", dialog).textContent = text;
  $("[data-slot=ok]", dialog).textContent = ok;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

/** A date for people, in the page's language. */
export function formatDate(iso) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return "";
  return when.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}
