/**
 * The guest's name, asked with the album page's name dialog (#guest-dialog) and kept per link on
 * this device; the name that uploads show and comments are signed with. Used by upload-ui.js and,
 * worded for comments, by the album page's comments.
 */

/**
 * Ask the guest's name; the name is kept under `key`, at most 100 characters. False if they cancelled.
 * For comments the dialog is worded for them while it is open, and it keeps its keys and focus to
 * itself: asked from the lightbox, PhotoSwipe listens on the document for keys (Esc would close it
 * too, an arrow would change the photo) and for focus (it takes the focus back to itself).
 * @param {HTMLDialogElement} dialog
 * @param {Storage} storage
 * @param {string} key  the storage key of the guest's name
 * @param {"uploads" | "comments"} [purpose]
 * @returns {Promise<boolean>}
 */
export function askGuestName(dialog, storage, key, purpose = "uploads") {
  const form = /** @type {HTMLFormElement} */ (dialog.querySelector("form"));
  const input = /** @type {HTMLInputElement} */ (dialog.querySelector("input"));
  const message = /** @type {HTMLElement} */ (dialog.querySelector("[data-slot=message]"));
  const forUploads = /** @type {HTMLElement | null} */ (dialog.querySelector("p[data-for=uploads]:not([data-slot])"));
  const forComments = /** @type {HTMLElement | null} */ (dialog.querySelector("p[data-for=comments]"));
  const comments = purpose === "comments";
  const uploadsMessage = message.textContent;
  const reword = comments && forUploads && forComments;
  if (reword) {
    forUploads.hidden = true;
    forComments.hidden = false;
  }
  if (comments) message.textContent = "Type a name, so that people know who wrote this comment.";
  message.hidden = true;
  input.value = storage.getItem(key) || "";
  dialog.returnValue = ""; // Esc keeps the last value otherwise
  const mine = (/** @type {Event} */ event) => event.stopPropagation();
  if (comments) {
    dialog.addEventListener("keydown", mine);
    dialog.addEventListener("focusin", mine);
  }
  dialog.showModal();
  return new Promise((resolve) => {
    const submit = (/** @type {SubmitEvent} */ event) => {
      const submitter = /** @type {HTMLButtonElement | null} */ (event.submitter);
      if (submitter && submitter.value === "cancel") return;
      const value = input.value.trim();
      if (!value) {
        event.preventDefault();
        message.hidden = false;
        input.focus();
        return;
      }
      storage.setItem(key, value.slice(0, 100));
    };
    form.addEventListener("submit", submit);
    dialog.addEventListener(
      "close",
      () => {
        form.removeEventListener("submit", submit);
        dialog.removeEventListener("keydown", mine);
        dialog.removeEventListener("focusin", mine);
        if (reword) {
          forUploads.hidden = false;
          forComments.hidden = true;
        }
        message.textContent = uploadsMessage;
        message.hidden = true;
        resolve(dialog.returnValue === "ok" && Boolean((storage.getItem(key) || "").trim()));
      },
      { once: true },
    );
  });
}
