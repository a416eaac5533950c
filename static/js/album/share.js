// The album's Share button: the whole link, key included, handed on by this device.
//
// The link given is the one the visitor opened, `<server>/a/<id>#<key>` (docs/format.md,
// "The link"), built from the page's own address and the key it read, never sent anywhere:
// the system share sheet (Web Share API) on devices that have one, else the clipboard,
// and a QR code drawn on this device for moving it to a phone. A password is never part
// of a link, so a password link is shared without it and the dialog says so.

import { generate } from "lean-qr";

/**
 * Show the Share button and wire it to its dialog.
 * @param {{ link: string, password: boolean }} options
 */
export function wireShare({ link, password }) {
  const button = /** @type {HTMLButtonElement} */ (document.getElementById("share"));
  const dialog = /** @type {HTMLDialogElement} */ (document.getElementById("share-dialog"));
  const status = dialog.querySelector("[data-slot=status]");
  const text = dialog.querySelector("[data-slot=link]");
  const canvas = /** @type {HTMLCanvasElement} */ (dialog.querySelector("[data-slot=qr]"));
  // Said under the code, whichever way the link is given: the password is never in a link.
  /** @type {HTMLElement} */ (dialog.querySelector("[data-slot=password]")).hidden = !password;
  text.textContent = link;
  let drawn = false;

  const say = (/** @type {string} */ words) => {
    status.textContent = words;
  };

  async function copy() {
    try {
      await navigator.clipboard.writeText(link);
      say("Link copied.");
    } catch {
      // Refused (no permission, or the page lost focus): the link is on screen, selected, to copy by hand.
      selectLink();
      say("This browser did not let the page copy the link: select it above and copy it yourself.");
    }
  }

  function selectLink() {
    const range = document.createRange();
    range.selectNodeContents(text);
    const selection = getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  /** The system share sheet, where there is one; false where there is none or it failed. */
  async function shareSheet() {
    const data = { url: link };
    if (typeof navigator.share !== "function" || typeof navigator.canShare !== "function" || !navigator.canShare(data)) {
      return false;
    }
    try {
      // Only the address: no title or text, so the album's title does not go to the app it is shared with.
      await navigator.share(data);
      say("");
      return true;
    } catch (error) {
      // The visitor closed the sheet: that is their answer, not a failure.
      if (error && error.name === "AbortError") return true;
      return false;
    }
  }

  button.addEventListener("click", async () => {
    say("");
    if (!drawn) {
      // Black on opaque white with the standard four-module quiet zone (ISO/IEC 18004), so it
      // scans on a dark theme too; one canvas pixel per module, scaled up by CSS (lean-qr README).
      generate(link).toCanvas(canvas, { on: [0, 0, 0, 255], off: [255, 255, 255, 255], pad: 4 });
      drawn = true;
    }
    // Both calls need the click's user activation, so they start before the dialog opens.
    const given = shareSheet().then((shared) => (shared ? undefined : copy()));
    if (!dialog.open) dialog.showModal();
    await given;
  });
  dialog.querySelector("[data-action=copy]").addEventListener("click", () => copy());
  button.hidden = false;
}
