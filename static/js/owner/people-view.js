// The People part of an album page: who has the album and with what role, sharing it with
// someone (by account, or by an invitation for an address with no account), changing roles,
// removing people (with a new album key), and leaving an album shared with you.
//
// Before the album key is sealed to anyone, their public key is checked against the one this
// account saw first (sharing.js); a changed key is refused with both safety numbers shown.

import { ApiError, sharing } from "./owner-api.js";
import { KeyChanged, checkPerson, invite, loadContacts, rekey, remember, safetyNumber, shareWith } from "./sharing.js";
import { $, confirmAction, describe, formatDate, hide, refused, setBusy, show, showError } from "./ui.js";

const ROLE_NAMES = { owner: "Owner", viewer: "Viewer", collaborator: "Collaborator", admin: "Admin" };
const ROLE_WORDS = {
  viewer: "see the album",
  collaborator: "see it and add photos",
  admin: "see it, add photos and share it with others",
};

export async function wirePeople({ album, me, mk, identity, section, status, errorLine, files, can }) {
  const list = $("[data-slot=people]", section);
  const template = $("#person-row");
  let people = await sharing.members(album.id);

  // --- a member: who shares it, and whether their key is still the one seen first ----------

  if (!can.owner) {
    const ownerPerson = people.owner;
    const banner = $("[data-slot=shared-by]", section);
    const mine = people.members.find((member) => member.account_id === me.account_id);
    const role = mine ? mine.role : album.role;
    banner.textContent = `${ownerPerson.email} shares this album with you: you can ${ROLE_WORDS[role] || "see it"}.`;
    show(banner);
    const book = await loadContacts(me, mk);
    if (checkPerson(book, ownerPerson) === "changed") {
      const warning = $("[data-slot=key-warning]", section);
      warning.textContent =
        `Warning: the server now gives a different key for ${ownerPerson.email} than the one you saw first.` +
        " Compare safety numbers with them before you add anything.";
      show(warning);
    } else {
      await remember(me, mk, [ownerPerson]);
    }
    const leave = $("[data-action=leave]", section);
    show(leave);
    leave.addEventListener("click", async () => {
      const text = "You can no longer open it, unless someone shares it with you again. The photos you added stay in it.";
      if (!(await confirmAction("Leave this album?", text, "Leave"))) return;
      try {
        await sharing.removeMember(album.id, me.account_id);
        location.assign("/app");
      } catch (error) {
        showError(errorLine, describe(error));
      }
    });
  }

  // --- the list ----------------------------------------------------------------------------

  function row(person, role, facts) {
    const li = template.content.firstElementChild.cloneNode(true);
    li.dataset.accountId = person.account_id || "";
    $("[data-slot=email]", li).textContent = person.email;
    $("[data-slot=role]", li).textContent = ROLE_NAMES[role] || role;
    $("[data-slot=facts]", li).textContent = facts;
    if (person.box_pk) $("[data-slot=safety]", li).textContent = safetyNumber(person);
    else hide($("[data-slot=safety-box]", li));
    return li;
  }

  function render() {
    const rows = [row(people.owner, "owner", people.owner.account_id === me.account_id ? "You" : "Shares this album")];
    for (const member of people.members) {
      const you = member.account_id === me.account_id ? "You · " : "";
      const li = row(member, member.role, `${you}added ${formatDate(member.added_at)}`);
      // Only the owner changes an admin; admins manage viewers and collaborators (as the server).
      const manageable = can.manage && member.account_id !== me.account_id && (can.owner || member.role !== "admin");
      if (manageable) {
        const select = $("[data-slot=role-select]", li);
        select.value = member.role;
        if (!can.owner) select.querySelector("option[value=admin]").disabled = true;
        show($("[data-slot=role-label]", li));
        select.addEventListener("change", () => changeRole(member, select));
        const remove = $("[data-action=remove-person]", li);
        show(remove);
        remove.addEventListener("click", () => removePerson(member));
      }
      rows.push(li);
    }
    for (const invitation of people.invitations) {
      const li = row(invitation, invitation.role, `Invited ${formatDate(invitation.created_at)}, has not joined yet`);
      const cancel = $("[data-action=cancel-invitation]", li);
      show(cancel);
      cancel.addEventListener("click", async () => {
        try {
          await sharing.cancelInvitation(album.id, invitation.invite_id);
          await refresh();
          setBusy(status, `The invitation to ${invitation.email} is cancelled.`);
        } catch (error) {
          showError(errorLine, describe(error));
        }
      });
      rows.push(li);
    }
    list.replaceChildren(...rows);
  }

  async function refresh() {
    people = await sharing.members(album.id);
    render();
  }

  async function changeRole(member, select) {
    hide(errorLine);
    try {
      people = await sharing.changeMember(album.id, member.account_id, select.value);
      render();
      setBusy(status, `${member.email} is now ${ROLE_NAMES[select.value].toLowerCase()}.`);
    } catch (error) {
      select.value = member.role;
      showError(errorLine, describe(error));
    }
  }

  const removeDialog = $("#remove-person-dialog");
  function askRemove(member) {
    const theirs = files().filter((file) => file.entry.added_by && file.entry.added_by.account_id === member.account_id);
    $("[data-slot=title]", removeDialog).textContent = `Remove ${member.email}?`;
    $("[data-slot=count]", removeDialog).textContent = String(theirs.length);
    const box = removeDialog.querySelector("[name=remove_files]");
    box.checked = false;
    box.disabled = theirs.length === 0;
    removeDialog.returnValue = "";
    removeDialog.showModal();
    return new Promise((resolve) => {
      removeDialog.addEventListener("close", () => resolve(removeDialog.returnValue === "ok" ? { files: box.checked } : null), {
        once: true,
      });
    });
  }

  async function removePerson(member) {
    const answer = await askRemove(member);
    if (!answer) return;
    hide(errorLine);
    try {
      if (can.owner) {
        // The owner removes and gives the album a new key in one request.
        setBusy(status, `Removing ${member.email} and making the album a new key…`);
        await rekey(album.id, me, mk, identity, { remove: [member.account_id], removeFiles: answer.files });
      } else {
        // An admin cannot make the owner's new key: the server refuses them at once, and the
        // owner's page makes the key when it next opens the album.
        await sharing.removeMember(album.id, member.account_id, answer.files ? "remove" : "keep");
      }
    } catch (error) {
      setBusy(status, "");
      showError(errorLine, describe(error));
      return;
    }
    // The album's key changed: reload so that everything on the page uses the new one.
    sessionStorage.setItem("fragment.notice", `${member.email} no longer has this album.`);
    location.reload();
  }

  // --- sharing -------------------------------------------------------------------------------

  const dialog = $("#share-dialog");
  const field = (name) => dialog.querySelector(`[name=${name}]`);
  const slot = (name) => $(`[data-slot=${name}]`, dialog);
  let trusting = null; // the person whose new key the owner chose to trust, for the next try

  function openShare() {
    field("email").value = "";
    field("role").value = "collaborator";
    slot("admin-option").disabled = !can.owner;
    for (const name of ["error", "changed", "result"]) hide(slot(name));
    setBusy(slot("status"), "");
    slot("ok").hidden = false;
    dialog.returnValue = "";
    dialog.showModal();
  }

  function showChanged(error) {
    slot("changed-text").textContent = error.message;
    slot("old-number").textContent = safetyNumber(error.seen);
    slot("new-number").textContent = safetyNumber(error.person);
    trusting = error.person;
    show(slot("changed"));
  }

  $("[data-action=trust-new]", dialog).addEventListener("click", async () => {
    if (!trusting) return;
    try {
      await remember(me, mk, [trusting], { trust: true });
      hide(slot("changed"));
      setBusy(slot("status"), "The new key is trusted. Share again to use it.");
    } catch (error) {
      showError(slot("error"), describe(error));
    }
  });

  function showResult(text, { number = "", address = "" } = {}) {
    slot("result-text").textContent = text;
    slot("result-number").textContent = number;
    slot("result-number").hidden = !number;
    slot("invite-url").value = address;
    slot("invite-url").hidden = !address;
    $("[data-action=copy-invite]", dialog).hidden = !address;
    show(slot("result"));
  }

  $("[data-action=copy-invite]", dialog).addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(slot("invite-url").value);
      setBusy(slot("status"), "Copied. Send it to them yourself, in a way only they read.");
    } catch {
      slot("invite-url").select();
      setBusy(slot("status"), "Select the link and copy it yourself: this browser did not let the page copy.");
    }
  });

  $("form", dialog).addEventListener("submit", async (event) => {
    if (event.submitter && /** @type {HTMLButtonElement} */ (event.submitter).value === "cancel") return;
    event.preventDefault();
    for (const name of ["error", "changed", "result"]) hide(slot(name));
    const email = field("email").value.trim().toLowerCase();
    const role = field("role").value;
    try {
      if (!/^[^@\s]+@[^@\s]+\.[^@\s.]+$/.test(email)) throw refused("Enter their e-mail address, like name@example.org.");
      if (email === me.email) throw refused("This is your own address.");
      setBusy(slot("status"), "Sealing the album's key for them…");
      try {
        const { person, status: seen } = await shareWith(album, me, mk, email, role);
        setBusy(slot("status"), "");
        const text =
          seen === "new"
            ? `Shared with ${person.email}. Compare this safety number with the one on their account page:`
            : `Shared with ${person.email}, whose key is the one you saw before.`;
        showResult(text, { number: seen === "new" ? safetyNumber(person) : "" });
      } catch (error) {
        if (!(error instanceof ApiError && error.code === "no_account")) throw error;
        setBusy(slot("status"), "They have no account yet: making an invitation…");
        const made = await invite(album, people.owner, email, role, field("by_mail").checked);
        setBusy(slot("status"), "");
        if (made.mailed) {
          const until = formatDate(made.expires_at);
          showResult(`${email} has no account yet: an invitation is on its way by e-mail. It works once, until ${until}.`);
        } else {
          const why = made.mail_problem || "Send them this invitation link yourself.";
          showResult(`${email} has no account yet. ${why} It works once, until ${formatDate(made.expires_at)}.`, {
            address: made.address,
          });
        }
      }
      slot("ok").hidden = true;
      await refresh();
    } catch (error) {
      setBusy(slot("status"), "");
      if (error instanceof KeyChanged) showChanged(error);
      else showError(slot("error"), describe(error));
    }
  });

  if (can.manage) {
    const share = $("[data-action=share]", section);
    show(share);
    share.addEventListener("click", openShare);
  }
  const notice = sessionStorage.getItem("fragment.notice");
  if (notice) {
    sessionStorage.removeItem("fragment.notice");
    setBusy(status, notice);
  }
  render();
  show($("[data-slot=people-section]", section));
}
