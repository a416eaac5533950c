"""Photos others shared, added to one's own albums in Chromium (issue 13, "Organize what others shared").

Alice shares an album with Bob as a viewer (by account). Bob selects photos in it and adds them to
his own album by reference: his album shows them and they decrypt to the very bytes Alice uploaded,
no blob is added to the store and his storage does not change; adding them again says they are
already there. When Alice deletes an original, Bob's album still opens it and his storage now counts
it. A copy counts at once, and one that does not fit is refused with the server's sentence. Nothing
secret leaves either browser. Real gunicorn on SQLite and a local folder.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from tests.support import servers
from tests.support.browser import TIMEOUT
from tests.support.media_fixtures import make_jpeg_with_orientation
from tests.test_browser_owner import PASSWORD, context, new_album, sign_up_as, tile_named, wait_added, watched
from tests.test_browser_sharing import open_album_card, share
from viewer import crypto

pytestmark = pytest.mark.slow

SHARED = "Harbour days"
INBOX = "Harbour inbox"
MINE = "My keepers"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("library-app") / "data"
    with servers.gunicorn(data, env={"FRAGMENT_SIGNUP": "open"}) as url:
        yield {"url": url, "data_dir": data}


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("library-media")
    made = []
    for i in range(4):
        taken = f"2025:06:0{i + 1} 09:00:00"
        made.append(make_jpeg_with_orientation(folder / f"HARBOUR_{i}.jpg", size=(320, 240), orientation=1, taken=taken))
    return made


def query(server, sql: str, *args):
    connection = sqlite3.connect(Path(server["data_dir"]) / "fragment.db")
    try:
        with connection:
            return connection.execute(sql, args).fetchall()
    finally:
        connection.close()


def stored_blobs(server) -> int:
    return sum(1 for p in (Path(server["data_dir"]) / "blobs").rglob("*") if p.is_file())


def bytes_used(ctx, server) -> int:
    return ctx.request.get(f"{server['url']}/api/account").json()["account"]["bytes_used"]


def storage_line(page) -> str:
    page.goto("/app/account")
    line = page.locator("#account [data-slot=storage]")
    line.wait_for(timeout=TIMEOUT)
    return line.inner_text()


def opened_files(page, ctx, server, album_id: str) -> dict[str, dict]:
    """The album's files as its owner's browser opens them, in Python: {name: {id, key, size, original}}."""
    mk = crypto.b64d(page.evaluate("sessionStorage.getItem('fragment.mk')"))
    api = f"{server['url']}/api/owner/albums/{album_id}"
    album = ctx.request.get(api).json()
    assert album["key_epoch"] == 0
    album_key = crypto.open_owner_album_key(mk, crypto.b64d(album["owner_key"]), album_id)
    out = {}
    for entry in ctx.request.get(f"{api}/files").json()["files"]:
        file_id = entry["file_id"]
        key = crypto.unwrap_file_key(album_key, crypto.b64d(entry["wrapped_key"]), album_id, file_id)
        meta = crypto.open_file_meta(key, album_id, file_id, crypto.b64d(entry["meta"]))
        blob = ctx.request.get(f"{api}/files/{file_id}/blobs/original").body()
        original = crypto.decrypt_blob_bytes(key, file_id, "original", blob)
        out[meta["name"]] = {"id": file_id, "key": key, "size": sum(entry["blobs"].values()), "original": original}
    return out


def wait_thumbs(page, count: int) -> None:
    """Every tile's thumb decrypted and decoded (a thumb that did not decrypt stays hidden)."""
    page.wait_for_function(
        """(n) => [...document.querySelectorAll('.file-grid .file-tile img')]
            .filter((img) => !img.hidden && img.complete && img.naturalWidth > 0).length >= n""",
        arg=count,
        timeout=TIMEOUT,
    )


def select(page, names: list[str]) -> None:
    """Selection mode on, and these tiles ticked (one with the keyboard: Space on the focused checkbox)."""
    page.get_by_role("button", name="Select", exact=True).click()
    first, *rest = names
    box = page.get_by_role("checkbox", name=f"Select {first}")
    box.focus()
    page.keyboard.press("Space")
    assert box.is_checked()
    for name in rest:
        page.get_by_role("checkbox", name=f"Select {name}").check()


def add_to(page, target: str, *, copy: bool = False):
    """Choose "Add to album…", the target and the way; the dialog once the page has a result or an error."""
    page.get_by_role("button", name="Add to album…").click()
    dialog = page.get_by_role("dialog", name="Add to album")
    dialog.get_by_label("Album", exact=True).select_option(label=target)
    if copy:
        dialog.get_by_label("Make my own copy").check()
    else:
        assert dialog.get_by_label("Add (uses no storage; it stays as long as someone keeps it)").is_checked()  # the default
    dialog.get_by_role("button", name="Add", exact=True).click()
    dialog.locator("[data-slot=open]:not([hidden]), [data-slot=error]:not([hidden])").wait_for(timeout=TIMEOUT)
    return dialog


def result_of(dialog) -> str:
    error = dialog.locator("[data-slot=error]")
    assert error.is_hidden(), error.inner_text()
    return dialog.locator("[data-slot=status]").inner_text()


def test_shared_photos_added_to_ones_own_album_by_reference_and_as_a_copy(browser, server, photos, network):
    console: list[str] = []
    alice_ctx = context(browser, server, network)
    alice = watched(alice_ctx, console)
    sign_up_as(alice, "alice@example.org")
    bob_ctx = context(browser, server, network)
    bob = watched(bob_ctx, console)
    sign_up_as(bob, "bob@example.org")
    new_album(bob, MINE)
    bob.get_by_text("This album is empty.").wait_for(timeout=TIMEOUT)
    assert bob.get_by_role("button", name="Select", exact=True).is_hidden()  # nothing to select yet
    mine = bob.url.rsplit("/", 1)[1]

    # Alice's album, shared with Bob as a viewer; another one where he collaborates.
    alice.goto("/app")
    new_album(alice, SHARED)
    shared = alice.url.rsplit("/", 1)[1]
    alice.locator("#file-input").set_input_files([str(p) for p in photos])
    wait_added(alice, 4)
    share(alice, "bob@example.org", "viewer").get_by_role("button", name="Close").click()
    alice.goto("/app")
    new_album(alice, INBOX)
    share(alice, "bob@example.org", "collaborator").get_by_role("button", name="Close").click()
    names = [p.name for p in photos]
    originals = opened_files(alice, alice_ctx, server, shared)
    assert {name: f["original"] for name, f in originals.items()} == {p.name: p.read_bytes() for p in photos}

    # 1. Bob, a viewer, adds two of them to his own album by reference.
    blobs_before = stored_blobs(server)
    assert bytes_used(bob_ctx, server) == 0
    storage_before = storage_line(bob)
    open_album_card(bob, SHARED)
    wait_added(bob, 4)
    select(bob, names[:2])
    assert "2 photos selected" in bob.locator("[data-slot=selection-bar]").inner_text()
    bob.get_by_role("button", name="Add to album…").click()
    dialog = bob.get_by_role("dialog", name="Add to album")
    # His own album and the one he collaborates on; not this one, where he only views.
    dialog.locator("option").first.wait_for(state="attached", timeout=TIMEOUT)
    options = dialog.get_by_label("Album", exact=True).locator("option").all_inner_texts()
    assert options == [f"{INBOX} (shared by alice@example.org)", MINE]
    assert "of alice@example.org’s storage" in dialog.locator("[data-slot=copy-label]").inner_text()
    dialog.get_by_label("Album", exact=True).select_option(label=MINE)
    copy_label = dialog.locator("[data-slot=copy-label]").inner_text()
    assert copy_label.startswith("Make my own copy (uses ") and copy_label.endswith(" of your storage)")
    # The main action stands out from Cancel (a dialog's buttons all showed pale once).
    background = "button => getComputedStyle(button).backgroundColor"
    main = dialog.get_by_role("button", name="Add", exact=True).evaluate(background)
    assert main != dialog.get_by_role("button", name="Cancel").evaluate(background)
    dialog.get_by_role("button", name="Cancel").click()
    dialog = add_to(bob, MINE)
    assert result_of(dialog) == f"2 photos added to “{MINE}”."
    dialog.get_by_role("button", name="Close").click()
    assert bob.get_by_role("checkbox", name=f"Select {names[0]}").is_hidden()  # done: the selection ends

    # His album shows them, they decrypt to Alice's bytes under his own album's keys; nothing stored, nothing counted.
    open_album_card(bob, MINE)
    wait_added(bob, 2)
    wait_thumbs(bob, 2)
    kept = opened_files(bob, bob_ctx, server, mine)
    assert {name: f["original"] for name, f in kept.items()} == {p.name: p.read_bytes() for p in photos[:2]}
    assert {name: f["id"] for name, f in kept.items()} == {name: originals[name]["id"] for name in names[:2]}
    assert stored_blobs(server) == blobs_before
    assert bytes_used(bob_ctx, server) == 0
    assert storage_line(bob) == storage_before

    # 2. Again, with all four selected but the last: one is new, two were there already.
    open_album_card(bob, SHARED)
    wait_added(bob, 4)
    bob.get_by_role("button", name="Select", exact=True).click()
    bob.get_by_role("button", name="Select all").click()
    bob.get_by_role("checkbox", name=f"Select {names[3]}").uncheck()
    assert "3 photos selected" in bob.locator("[data-slot=selection-bar]").inner_text()
    # The first answer says the album got a new key meanwhile: the page reads its keys again and sends once more.
    posts: list[str] = []

    def stale_once(route) -> None:
        posts.append(route.request.method)
        if len(posts) == 1:
            body = '{"error": "stale_key", "message": "This album has a new key: read it again."}'
            route.fulfill(status=409, content_type="application/json", body=body)
        else:
            route.continue_()

    bob_ctx.route("**/references", stale_once)
    dialog = add_to(bob, MINE)
    assert result_of(dialog) == f"1 photo added to “{MINE}”. 2 were already there."
    assert posts == ["POST", "POST"]
    bob_ctx.unroute("**/references", stale_once)
    dialog.get_by_role("button", name="Close").click()
    select(bob, names[:1])
    dialog = add_to(bob, MINE)
    assert result_of(dialog) == f"Nothing added: it was already in “{MINE}”."
    dialog.get_by_role("button", name="Close").click()
    assert bytes_used(bob_ctx, server) == 0
    assert stored_blobs(server) == blobs_before

    # 3. Alice deletes an original: Bob's album still opens it, and his storage now counts it.
    open_album_card(alice, SHARED)
    wait_added(alice, 4)
    tile_named(alice, names[0]).get_by_role("button", name="Remove").click()
    alice.get_by_role("dialog", name=f"Remove {names[0]}?").get_by_role("button", name="Remove").click()
    alice.get_by_text(f"{names[0]} was removed.").wait_for(timeout=TIMEOUT)
    open_album_card(bob, MINE)
    wait_added(bob, 3)
    wait_thumbs(bob, 3)
    kept = opened_files(bob, bob_ctx, server, mine)
    assert kept[names[0]]["original"] == photos[0].read_bytes()
    assert bytes_used(bob_ctx, server) == originals[names[0]]["size"]
    assert storage_line(bob) != storage_before
    assert stored_blobs(server) == blobs_before  # the blobs stayed, for Bob

    # 4. A copy that does not fit is refused in one sentence and leaves nothing behind.
    bob_id = query(server, "SELECT id FROM accounts WHERE email = 'bob@example.org'")[0][0]
    query(server, "UPDATE accounts SET quota_bytes = ? WHERE id = ?", originals[names[0]]["size"] + 10, bob_id)
    open_album_card(bob, SHARED)
    wait_added(bob, 3)
    select(bob, names[3:])
    dialog = add_to(bob, MINE, copy=True)
    refusal = dialog.locator("[data-slot=error]").inner_text()
    assert refusal and "\n" not in refusal and "Traceback" not in refusal, refusal
    assert bytes_used(bob_ctx, server) == originals[names[0]]["size"]
    assert stored_blobs(server) == blobs_before
    dialog.get_by_role("button", name="Cancel").click()

    # 5. With room, Bob's own copy counts at once, in his storage and on his account page.
    query(server, "UPDATE accounts SET quota_bytes = NULL WHERE id = ?", bob_id)
    open_album_card(bob, SHARED)
    wait_added(bob, 3)
    select(bob, names[3:])
    dialog = add_to(bob, MINE, copy=True)
    text = result_of(dialog)
    assert text.startswith(f"1 photo added to “{MINE}”. You now use "), text
    used = originals[names[0]]["size"] + originals[names[3]]["size"]
    assert bytes_used(bob_ctx, server) == used
    assert stored_blobs(server) == blobs_before + 3
    dialog.get_by_role("link", name=f"Open “{MINE}”").click()
    bob.get_by_role("heading", name=MINE).wait_for(timeout=TIMEOUT)
    wait_added(bob, 4)
    wait_thumbs(bob, 4)
    kept = opened_files(bob, bob_ctx, server, mine)
    assert {name: f["original"] for name, f in kept.items()} == {p.name: p.read_bytes() for p in photos}
    assert storage_line(bob) not in (storage_before, "")

    # Nothing secret left either browser: passwords, master keys, album and file keys.
    for page in (alice, bob):
        mk = page.evaluate("sessionStorage.getItem('fragment.mk')")
        network.assert_never_sent(mk)
        network.assert_never_sent(crypto.b64d(mk))
    for each in (*originals.values(), *kept.values()):
        network.assert_never_sent(each["key"])
        network.assert_never_sent(crypto.b64e(each["key"]))
    network.assert_never_sent(PASSWORD)
    # Chromium logs every 4xx as an error: the stale key's 409 and the refused copy's 413 are answers the page
    # handles and explains; nothing else.
    assert [m for m in console if not re.search(r"status of (409|413)", m)] == [], console
    for each in (bob_ctx, alice_ctx):
        each.close()
