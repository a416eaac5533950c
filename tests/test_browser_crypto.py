"""static/js/core/crypto.js, core/format.js and core/account.js in Chromium, against docs/vectors.json and viewer/crypto.py.

Everything runs on a real page of the app under gunicorn, with its real CSP: the
test opens ``/`` and imports the module as any page script would
(``await import('/static/js/core/crypto.js')``, allowed by script-src 'self'), so the
import map, its integrity values and the server's vendor files are all in play.
Bytes cross between Python and the page as base64url text.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re
import struct
from pathlib import Path

import pytest
import requests

from tests.support.browser import ModulePage
from viewer import crypto

ROOT = Path(__file__).resolve().parent.parent
VECTORS = json.loads((ROOT / "docs" / "vectors.json").read_text())

pytestmark = pytest.mark.slow

# Shared by every snippet: the module, and a way to name the error a call throws.
PRELUDE = """
const c = await import('/static/js/core/crypto.js');
const f = await import('/static/js/core/format.js');
const a = await import('/static/js/core/account.js');
await c.ready();
const { b64e, b64d } = c;
const name = (e) => e instanceof c.DecryptionError ? 'DecryptionError' :
  e instanceof c.FormatError ? 'FormatError' : `${e.name}: ${e.message}`;
const fails = (f) => { try { f(); return 'ok'; } catch (e) { return name(e); } };
const failsAsync = async (f) => { try { await f(); return 'ok'; } catch (e) { return name(e); } };
const readAll = async (stream) => {
  const parts = []; const reader = stream.getReader();
  for (;;) { const { done, value } = await reader.read(); if (done) break; parts.push(value); }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0)); let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};
const pipe = (bytes, sizes, transform) => {
  let at = 0, i = 0;
  const source = new ReadableStream({ pull(controller) {
    if (at >= bytes.length) return controller.close();
    const n = sizes[i++ % sizes.length]; controller.enqueue(bytes.slice(at, at + n)); at += n;
  } });
  return readAll(source.pipeThrough(transform));
};
"""


@pytest.fixture
def js(page, live_server):
    page.goto(live_server["url"] + "/")
    return ModulePage(page, PRELUDE)


def b64(data: bytes) -> str:
    return crypto.b64e(data)


def fixed(start: int, n: int) -> bytes:
    return bytes((start + i) % 256 for i in range(n))


@pytest.mark.parametrize("module", ["crypto.js", "format.js", "account.js"])
def test_crypto_js_is_pure(module):
    """Bytes in, bytes out: usable in a Worker and a Service Worker (no DOM, no network, no dynamic import)."""
    code = re.sub(r"//[^\n]*|/\*.*?\*/", "", (ROOT / "static" / "js" / "core" / module).read_text(), flags=re.DOTALL)
    for word in (
        "document",
        "window",
        "fetch",
        "XMLHttpRequest",
        "localStorage",
        "sessionStorage",
        "indexedDB",
        "import(",
        "eval(",
    ):
        assert word not in code, word
    imports = re.findall(r"^(?:import|export) [^;]*? from \"([^\"]+)\";", code, re.MULTILINE)
    if module == "crypto.js":
        sodium = "../../../vendor/libsodium-wrappers-sumo/dist/modules-sumo-esm/libsodium-wrappers.mjs"
        assert imports == [sodium, "./format.js", "./format.js"]  # libsodium, then format.js's names and re-exports
    elif module == "account.js":
        # @scure/bip39 by its served URL (Workers have no import map); every primitive is crypto.js's.
        bip39 = "../../../vendor/@scure/bip39"
        assert imports == [f"{bip39}/index.js", f"{bip39}/wordlists/english.js", "./crypto.js", "./format.js"]
        assert "mnemonicToSeed" not in code  # the words are the key: no PBKDF2 (docs/format.md, "Recovery words")
    else:
        # No libsodium: page code that needs only sizes and constants (uploads.js) loads no WebAssembly.
        assert imports == []


# --- the vectors -----------------------------------------------------------------

VECTOR_SNIPPET = """
const v = arg, i = v.inputs;
const keys = (k) => ({ wrap_key: b64e(k.wrapKey), access_seed: b64e(k.accessSeed), verifier: b64e(k.verifier),
  link_seed: b64e(k.linkSeed), link_verifier: b64e(k.linkVerifier) });
const ak = b64d(i.album_key, 32), fk = b64d(i.file_key, 32), secret = b64d(i.link_secret, 32);
const pw = c.passwordFactor(i.password, i.password_params);
const plain = c.linkKeys(secret), withPw = c.linkKeys(secret, pw);
const blob = c.encryptBlob(fk, i.file_id, v.blob.kind, b64d(v.blob.plaintext),
  { chunkSize: v.blob.chunk_size, prefix: b64d(v.blob.prefix) });
const empty = c.encryptBlob(fk, i.file_id, v.empty_blob.kind, new Uint8Array(),
  { chunkSize: v.empty_blob.chunk_size, prefix: b64d(v.empty_blob.prefix) });
// The device key as the browser holds it: the vector's seed imported into WebCrypto, not
// extractable, then signing as device.js does (Ed25519 is deterministic: RFC 8032).
const d = v.device_proof;
const deviceKey = await crypto.subtle.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', d: d.device_seed, x: d.device_key },
  { name: 'Ed25519' }, false, ['sign']);
const deviceSignature = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, deviceKey,
  c.deviceProofMessage(i.link_id, d.challenge)));
return {
  format: c.FORMAT_VERSION,
  link_url_fragment: c.encodeLinkSecret(secret),
  kdf: b64e(c.kdf(b64d(v.kdf.master), v.kdf.subkey_id, v.kdf.context)),
  pw_factor: b64e(pw),
  link_keys: { no_password: keys(plain), with_password: keys(withPw) },
  unlock_proof: {
    message: b64e(c.proofMessage(i.link_id, v.unlock_proof.challenge)),
    signature: c.signProof(plain, i.link_id, v.unlock_proof.challenge),
  },
  link_proof: {
    message: b64e(c.linkProofMessage(i.link_id, v.link_proof.challenge)),
    signature: c.signLinkProof(withPw, i.link_id, v.link_proof.challenge),
  },
  device_proof: {
    message: b64e(c.deviceProofMessage(i.link_id, d.challenge)),
    signature: b64e(deviceSignature),
    device_id: c.deviceId(b64d(d.device_key)),
  },
  padme: v.padme.map(([n]) => [n, c.paddedMetaLength(n)]),
  wrapped_album_key: b64e(c.wrapAlbumKey(plain.wrapKey, ak, i.link_id, b64d(v.wrapped_album_key.nonce))),
  wrapped_file_key: b64e(c.wrapFileKey(ak, fk, i.album_id, i.file_id, b64d(v.wrapped_file_key.nonce))),
  album_meta: b64e(c.sealAlbumMeta(ak, i.album_id, v.album_meta.meta, b64d(v.album_meta.nonce))),
  file_meta: b64e(c.sealFileMeta(fk, i.album_id, i.file_id, v.file_meta.meta, b64d(v.file_meta.nonce))),
  blob: b64e(blob),
  empty_blob: b64e(empty),
  opened: {
    link_secret: b64e(c.decodeLinkSecret(v.link_url_fragment)),
    album_key: b64e(c.unwrapAlbumKey(plain.wrapKey, b64d(v.wrapped_album_key.sealed), i.link_id)),
    file_key: b64e(c.unwrapFileKey(ak, b64d(v.wrapped_file_key.sealed), i.album_id, i.file_id)),
    album_meta: c.openAlbumMeta(ak, i.album_id, b64d(v.album_meta.sealed)),
    album_meta_unpadded: c.openAlbumMeta(ak, i.album_id, b64d(v.album_meta_unpadded.sealed)),
    link_proof_verifies: c.verifyLinkProof(plain.linkVerifier, i.link_id, v.link_proof.challenge, v.link_proof.signature),
    device_proof_verifies: c.verifyDeviceProof(b64d(d.device_key), i.link_id, d.challenge, d.signature),
    file_meta: c.openFileMeta(fk, i.album_id, i.file_id, b64d(v.file_meta.sealed)),
    blob: b64e(c.decryptBlob(fk, i.file_id, v.blob.kind, b64d(v.blob.blob))),
    empty_blob: b64e(c.decryptBlob(fk, i.file_id, v.empty_blob.kind, b64d(v.empty_blob.blob))),
    proof_verifies: c.verifyProof(plain.verifier, i.link_id, v.unlock_proof.challenge, v.unlock_proof.signature),
    header: (({ chunkSize, prefix, bytes }) => ({ chunkSize, prefix: b64e(prefix), bytes: b64e(bytes) }))(
      c.parseBlobHeader(b64d(v.blob.blob))),
  },
};
"""


def test_crypto_js_reproduces_every_vector(js):
    v = VECTORS
    out = js.run(VECTOR_SNIPPET, v)
    assert out["format"] == v["format"]
    assert out["link_url_fragment"] == v["link_url_fragment"]
    assert out["kdf"] == v["kdf"]["subkey"]
    assert out["pw_factor"] == v["pw_factor"]
    for case in ("no_password", "with_password"):
        assert out["link_keys"][case] == v["link_keys"][case], case
    assert out["unlock_proof"]["message"] == v["unlock_proof"]["message"]
    assert out["unlock_proof"]["signature"] == v["unlock_proof"]["signature"]
    # The link proof is the same with the password's keys: it comes from the link secret alone.
    assert out["link_proof"] == {k: v["link_proof"][k] for k in ("message", "signature")}
    assert out["device_proof"] == {k: v["device_proof"][k] for k in ("message", "signature", "device_id")}
    assert out["padme"] == v["padme"]
    for entry in ("wrapped_album_key", "wrapped_file_key", "album_meta", "file_meta"):
        assert out[entry] == v[entry]["sealed"], entry
    assert out["blob"] == v["blob"]["blob"]
    assert out["empty_blob"] == v["empty_blob"]["blob"]


def test_crypto_js_opens_every_vector(js):
    v = VECTORS
    opened = js.run(VECTOR_SNIPPET, v)["opened"]
    assert opened["link_secret"] == v["inputs"]["link_secret"]
    assert opened["album_key"] == v["inputs"]["album_key"]
    assert opened["file_key"] == v["inputs"]["file_key"]
    assert opened["album_meta"] == {"v": 1, **v["album_meta"]["meta"]}
    assert opened["album_meta_unpadded"] == {"v": 1, **v["album_meta_unpadded"]["meta"]}
    assert opened["link_proof_verifies"] is True and opened["device_proof_verifies"] is True
    assert opened["file_meta"] == {"v": 1, **v["file_meta"]["meta"]}
    assert opened["blob"] == v["blob"]["plaintext"]
    assert opened["empty_blob"] == ""
    assert opened["proof_verifies"] is True
    assert opened["header"] == {
        "chunkSize": 1024,
        "prefix": v["blob"]["prefix"],
        "bytes": b64(crypto.b64d(v["blob"]["blob"])[:24]),
    }


def test_sizes_and_spans_match_the_documented_examples(js):
    out = js.run(
        """return {
          sizes: [0, 65536, 65537].map((p) => f.ciphertextSize(p)),
          back: [40, 65576, 65593].map((b) => f.plaintextSize(b)),
          span: f.chunkSpan(1500, 2100, 2572, 1024),
          impossible: [23, 39, 65577, 65592].map((b) => fails(() => f.plaintextSize(b))),
          outside: [[0, 0], [-1, 5], [2000, 2501], [5, 3]].map(([s, e]) => fails(() => f.chunkSpan(s, e, 2572, 1024))),
          // One copy: crypto.js hands out format.js's own functions.
          same: [c.chunkSpan === f.chunkSpan, c.plaintextSize === f.plaintextSize, c.b64e === f.b64e],
        };"""
    )
    assert out["same"] == [True, True, True]
    assert out["sizes"] == [40, 65576, 65593]
    assert out["back"] == [0, 65536, 65537]
    assert out["span"] == {"first": 1, "last": 2, "ctStart": 1064, "ctEnd": 2572, "skip": 476}
    assert out["impossible"] == ["FormatError"] * 4
    assert out["outside"] == ["FormatError"] * 4


def test_span_chunks_cut_the_fetched_bytes_as_the_format_says(js):
    """docs/format.md, "Random access", on the blob vector: [1500, 2100) is chunk 1 (1040 bytes, not last)
    and chunk 2 (468 bytes, last)."""
    v = VECTORS["blob"]
    out = js.run(
        """const blob = b64d(arg.blob), fk = b64d(arg.fk), header = f.parseBlobHeader(blob);
        const span = f.chunkSpan(1500, 2100, blob.length, header.chunkSize);
        const pieces = f.spanChunks(span, blob.length, header.chunkSize);
        const fetched = blob.slice(span.ctStart, span.ctEnd);
        const plain = pieces.map((p) =>
          c.decryptChunk(fk, arg.file, 'original', header, p.index, fetched.subarray(p.start, p.end), p.last));
        const joined = new Uint8Array(plain.reduce((n, p) => n + p.length, 0));
        plain.reduce((at, p) => (joined.set(p, at), at + p.length), 0);
        return { pieces, kept: b64e(joined.slice(span.skip, span.skip + 600)),
                 whole: f.spanChunks(f.chunkSpan(0, 2500, blob.length, 1024), blob.length, 1024) };""",
        {"blob": v["blob"], "fk": VECTORS["inputs"]["file_key"], "file": VECTORS["inputs"]["file_id"]},
    )
    assert out["pieces"] == [
        {"index": 1, "start": 0, "end": 1040, "last": False},
        {"index": 2, "start": 1040, "end": 1508, "last": True},
    ]
    assert crypto.b64d(out["kept"]) == crypto.b64d(v["plaintext"])[1500:2100]
    assert [(p["index"], p["end"] - p["start"], p["last"]) for p in out["whole"]] == [
        (0, 1040, False),
        (1, 1040, False),
        (2, 468, True),
    ]


def test_upload_parts_reencrypt_the_blob_vector_byte_for_byte(js):
    """format.js partEnd and cipherRange, as uploads.js and upload-worker.js use them: any part size gives whole
    chunks a part (the header with the first), and the parts, encrypted on their own, are the vector's blob."""
    v = VECTORS["blob"]
    out = js.run(
        """const v = arg.v, blob = b64d(v.blob), plain = b64d(v.plaintext), fk = b64d(arg.fk);
        const header = f.parseBlobHeader(blob), C = header.chunkSize, n = f.chunkCount(plain.length, C);
        // upload-worker.js's part(): the chunks under [start, end), after the header when it begins there.
        const part = (start, end) => {
          const { first, last, base } = f.cipherRange(start, end, plain.length, C);
          const pieces = base === 0 ? [header.bytes] : [];
          for (let i = first; i <= last; i += 1) {
            pieces.push(c.encryptChunk(fk, arg.file, 'original', header, i, plain.subarray(i * C, (i + 1) * C), i === n - 1));
          }
          const out = new Uint8Array(pieces.reduce((s, p) => s + p.length, 0));
          pieces.reduce((at, p) => (out.set(p, at), at + p.length), 0);
          return out.slice(start - base, end - base);
        };
        const byPartSize = arg.maxParts.map((max) => {
          const ends = [];
          for (let start = 0; start < blob.length; start = ends[ends.length - 1]) {
            ends.push(f.partEnd(start, blob.length, max, C));
          }
          return ends;
        });
        // Any cut at all (a resumed upload starts where the server stopped), not only part boundaries.
        const cuts = arg.cuts.map((points) => {
          const bounds = [0, ...points, blob.length];
          const joined = bounds.slice(1).map((end, k) => part(bounds[k], end));
          return b64e(new Uint8Array(joined.flatMap((p) => [...p])));
        });
        const outside = [[0, 0], [5, 3], [0, blob.length + 1]].map(([s, e]) => fails(() => f.cipherRange(s, e, plain.length, C)));
        return { byPartSize, cuts, outside };""",
        {
            "v": v,
            "fk": VECTORS["inputs"]["file_key"],
            "file": VECTORS["inputs"]["file_id"],
            "maxParts": [1, 1064, 1100, 2103, 2104, 2200, 4096],
            "cuts": [[], [1], [23], [24], [25], [1064], [1063, 1065], [10, 1000, 2000, 2571], [2104], [2571]],
        },
    )
    assert out["byPartSize"] == [
        [1064, 2104, 2572],  # at least one chunk a part, however small the limit
        [1064, 2104, 2572],
        [1064, 2104, 2572],
        [1064, 2104, 2572],
        [2104, 2572],  # 24 + 2 * 1040: the header and two whole chunks
        [2104, 2572],
        [2572],
    ]
    assert out["cuts"] == [v["blob"]] * 10
    assert out["outside"] == ["FormatError"] * 3


def test_plaintext_size_agrees_with_python_for_every_blob_length(js):
    chunk = 1024
    lengths = list(range(24 + 4 * (chunk + 16) + 3))

    def python(length):
        try:
            return crypto.plaintext_size(length, chunk)
        except crypto.FormatError:
            return "FormatError"

    out = js.run("return arg.map((b) => { try { return c.plaintextSize(b, 1024); } catch (e) { return name(e); } });", lengths)
    assert out == [python(n) for n in lengths]


# --- the unlock with a link proof, device keys, padding, the Argon2 floor ----------------
# (spec "unlock-v2"; docs/format.md). Expected values are computed here from the
# documented construction with PyNaCl alone, independently of both implementations.


def spec_link_keypair(link_secret: bytes) -> tuple[bytes, bytes]:
    """(link_verifier, seed): master0 = BLAKE2b-256(link_secret), seed = kdf(32, 3, "fraglink", master0)."""
    from nacl.bindings import crypto_generichash_blake2b_salt_personal, crypto_sign_seed_keypair

    master0 = crypto_generichash_blake2b_salt_personal(link_secret, digest_size=32)
    seed = crypto.kdf(master0, 3, b"fraglink")
    return crypto_sign_seed_keypair(seed)[0], seed


def spec_message(label: bytes, link_id: str, challenge: str) -> bytes:
    return label + b"\x00" + crypto.b64d(link_id, 16) + challenge.encode("ascii")


def spec_padme(length: int) -> int:
    """Padmé (PETS 2019, section 4), exactly as the spec writes it."""
    e = length.bit_length() - 1
    s = e.bit_length()  # floor(log2 E) + 1
    z = e - s
    m = (1 << z) - 1
    return (length + m) & ~m


def spec_padded_json(meta: dict) -> bytes:
    text = json.dumps({"v": 1, **meta}, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    return text.ljust(spec_padme(max(len(text), 256)), b" ")


def test_link_keys_and_link_proof_follow_the_spec(js):
    from nacl.signing import SigningKey

    secret, pw, link_id = os.urandom(32), os.urandom(32), crypto.new_id()
    challenge = "AAAAAAAAAAAAAAAAAAAAAA.1700000000.abc-_"
    verifier, seed = spec_link_keypair(secret)
    out = js.run(
        """const secret = b64d(arg.secret), pw = b64d(arg.pw);
        const plain = c.linkKeys(secret), withPw = c.linkKeys(secret, pw);
        return {
          seed: b64e(plain.linkSeed),
          verifier: b64e(plain.linkVerifier),
          samePw: b64e(withPw.linkVerifier),
          message: b64e(c.linkProofMessage(arg.link, arg.challenge)),
          proof: c.signLinkProof(withPw, arg.link, arg.challenge),
          deviceMessage: b64e(c.deviceProofMessage(arg.link, arg.challenge)),
          verifies: c.verifyLinkProof(
            plain.linkVerifier, arg.link, arg.challenge, c.signLinkProof(plain, arg.link, arg.challenge)),
          // A password proof is not a link proof, nor the other way round.
          crossed: c.verifyLinkProof(plain.linkVerifier, arg.link, arg.challenge, c.signProof(plain, arg.link, arg.challenge)),
          crossedBack: c.verifyProof(plain.verifier, arg.link, arg.challenge, c.signLinkProof(plain, arg.link, arg.challenge)),
          notAscii: fails(() => c.linkProofMessage(arg.link, 'é')),
        };""",
        {"secret": b64(secret), "pw": b64(pw), "link": link_id, "challenge": challenge},
    )
    assert out["seed"] == b64(seed)
    # The link key comes from the link secret alone: the same with or without a password.
    assert out["verifier"] == out["samePw"] == b64(verifier)
    assert crypto.b64d(out["message"]) == spec_message(b"fragment/v1/unlock-link", link_id, challenge)
    # Ed25519 signatures are deterministic (RFC 8032): the same bytes as PyNaCl's.
    assert out["proof"] == b64(SigningKey(seed).sign(spec_message(b"fragment/v1/unlock-link", link_id, challenge)).signature)
    assert crypto.b64d(out["deviceMessage"]) == spec_message(b"fragment/v1/device", link_id, challenge)
    assert (out["verifies"], out["crossed"], out["crossedBack"]) == (True, False, False)
    assert out["notAscii"] == "FormatError"


def test_a_webcrypto_device_key_signs_what_the_server_verifies(js):
    """device.js signs with a non-extractable WebCrypto key; PyNaCl checks it; device_id is BLAKE2b-128."""
    from nacl.bindings import crypto_generichash_blake2b_salt_personal
    from nacl.signing import VerifyKey

    link_id, challenge = crypto.new_id(), "AAAAAAAAAAAAAAAAAAAAAA.1700000000.xyz"
    out = js.run(
        """const d = await import('/static/js/core/device.js');
        const message = c.deviceProofMessage(arg.link, arg.challenge);
        const first = await d.signWithDeviceKey(arg.link, message);
        const again = await d.signWithDeviceKey(arg.link, message);
        const other = await d.signWithDeviceKey(c.newId(), message);
        const stored = await new Promise((resolve, reject) => {
          const open = indexedDB.open('fragment');
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const get = open.result.transaction('devices').objectStore('devices').get(arg.link);
            get.onsuccess = () => resolve(get.result);
          };
        });
        const exported = await crypto.subtle.exportKey('pkcs8', stored.privateKey).then(() => 'exported', (e) => e.name);
        const had = await d.hasDeviceKey(arg.link);
        await d.forgetDeviceKey(arg.link);
        return {
          key: b64e(first.publicKey), proof: b64e(first.signature),
          sameKey: b64e(again.publicKey), otherKey: b64e(other.publicKey),
          id: c.deviceId(first.publicKey),
          libsodium: c.verifyDeviceProof(first.publicKey, arg.link, arg.challenge, b64e(first.signature)),
          extractable: stored.privateKey.extractable, algorithm: stored.privateKey.algorithm.name, exported,
          had, hasAfterForget: await d.hasDeviceKey(arg.link),
        };""",
        {"link": link_id, "challenge": challenge},
    )
    key = crypto.b64d(out["key"], 32)
    VerifyKey(key).verify(spec_message(b"fragment/v1/device", link_id, challenge), crypto.b64d(out["proof"], 64))
    assert out["libsodium"] is True
    assert out["id"] == b64(crypto_generichash_blake2b_salt_personal(key, digest_size=16)) and len(out["id"]) == 22
    # One key per link, kept: the same key signs again; another link has its own.
    assert out["sameKey"] == out["key"] != out["otherKey"]
    assert (out["extractable"], out["algorithm"], out["exported"]) == (False, "Ed25519", "InvalidAccessError")
    assert (out["had"], out["hasAfterForget"]) == (True, False)


def test_padme_and_padded_metadata_follow_the_spec(js):
    lengths = [*range(1, 600), 1000, 1023, 1024, 1025, 4097, 65535, 65536, 65537, 10**6, 2**31 + 5, 2**40 + 1]
    album_key, album_id, file_id, nonce = os.urandom(32), crypto.new_id(), crypto.new_id(), os.urandom(24)
    metas: list[dict] = [{}, {"title": "x" * 30}, {"name": "é" * 90, "size": 1}, {"title": "x" * 300}, {"title": "🌅" * 1000}]
    out = js.run(
        """const key = b64d(arg.key), nonce = b64d(arg.nonce);
        return {
          padme: arg.lengths.map((n) => c.padme(n)),
          album: arg.metas.map((m) => b64e(c.sealAlbumMeta(key, arg.album, m, nonce))),
          file: arg.metas.map((m) => b64e(c.sealFileMeta(key, arg.album, arg.file, m, nonce))),
          opened: arg.metas.map((m) => c.openFileMeta(key, arg.album, arg.file, c.sealFileMeta(key, arg.album, arg.file, m))),
        };""",
        {"lengths": lengths, "key": b64(album_key), "nonce": b64(nonce), "album": album_id, "file": file_id, "metas": metas},
    )
    assert out["padme"] == [spec_padme(n) for n in lengths]
    assert spec_padme(256) == 256
    album_ad = crypto.AD_ALBUM_META + crypto.b64d(album_id)
    file_ad = crypto.AD_FILE_META + crypto.b64d(album_id) + crypto.b64d(file_id)
    for meta, album, file in zip(metas, out["album"], out["file"], strict=True):
        padded = spec_padded_json(meta)
        assert album == b64(crypto.seal(album_key, padded, album_ad, nonce))
        assert file == b64(crypto.seal(album_key, padded, file_ad, nonce))
        # Old readers read it: trailing spaces are JSON whitespace (RFC 8259 section 2).
        assert json.loads(crypto.open_sealed(album_key, crypto.b64d(album), album_ad)) == {"v": 1, **meta}
    assert out["opened"] == [{"v": 1, **m} for m in metas]
    # Short metadata all seal to the same length: the length of a name no longer shows.
    assert len({len(crypto.b64d(a)) for a in out["album"][:3]}) == 1


def test_old_unpadded_metadata_still_opens(js):
    key, album_id, file_id = os.urandom(32), crypto.new_id(), crypto.new_id()
    meta = {"title": "Écrit avant le padding", "n": 1}
    raw = json.dumps({"v": 1, **meta}, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    album = crypto.seal(key, raw, crypto.AD_ALBUM_META + crypto.b64d(album_id))
    file = crypto.seal(key, raw, crypto.AD_FILE_META + crypto.b64d(album_id) + crypto.b64d(file_id))
    out = js.run(
        """const key = b64d(arg.key);
        return [c.openAlbumMeta(key, arg.album, b64d(arg.am)), c.openFileMeta(key, arg.album, arg.file, b64d(arg.fm))];""",
        {"key": b64(key), "album": album_id, "file": file_id, "am": b64(album), "fm": b64(file)},
    )
    assert out == [{"v": 1, **meta}] * 2


def test_argon2_parameters_below_the_owasp_floor_are_refused(js):
    salt = crypto.b64e(bytes(16))
    floor = {"alg": "argon2id13", "salt": salt, "opslimit": 2, "memlimit": 19 * 1024 * 1024}
    weak = [{**floor, "opslimit": 1}, {**floor, "memlimit": 19 * 1024 * 1024 - 1}, {**floor, "opslimit": 1, "memlimit": 8192}]
    out = js.run(
        """const outcome = (p) => {
          try { c.checkPasswordFloor(p); return 'ok'; }
          catch (e) { return e.name === 'WeakPasswordParams' ? e.message : name(e); }
        };
        return {
          floor: outcome(arg.floor), strong: outcome({ ...arg.floor, opslimit: 3, memlimit: 64 * 1024 * 1024 }),
          weak: arg.weak.map(outcome), garbage: outcome({ ...arg.floor, opslimit: 0 }),
          constants: [c.PW_OPSLIMIT_FLOOR, c.PW_MEMLIMIT_FLOOR],
        };""",
        {"floor": floor, "weak": weak},
    )
    message = (
        "This link's password settings are weaker than Fragment allows, so the password could be guessed offline. "
        "Ask the owner for a new link."
    )
    assert (out["floor"], out["strong"]) == ("ok", "ok")
    assert out["weak"] == [message] * len(weak)
    assert out["garbage"] == "FormatError"
    assert out["constants"] == [2, 19922944]


def test_the_keys_worker_refuses_weak_parameters_before_hashing(js):
    """The last guard: even asked directly, the Argon2 Worker computes nothing below the floor."""
    out = js.run(
        """const { WorkerClient } = await import('/static/js/core/rpc.js');
        const worker = new WorkerClient(new URL('/static/js/album/keys-worker.js', location.origin));
        try {
          return await worker.call('passwordFactor', { password: 'x', params: arg }).then(() => 'computed', (e) => e.name);
        } finally { worker.terminate(); }""",
        {"alg": "argon2id13", "salt": crypto.b64e(bytes(16)), "opslimit": 1, "memlimit": 64 * 1024 * 1024},
    )
    assert out == "WeakPasswordParams"


# --- encodings and inputs -----------------------------------------------------------


def test_base64_is_canonical_and_strict(js):
    rng = random.Random(7)
    samples = [bytes(rng.randrange(256) for _ in range(n)) for n in range(70)]
    bad = ["AB", "AAB", "A", "AA=", "AA==", "+/", "a/b", " AA", "AA ", "AA\n", "AÀ", "=", "AAAAA"]
    out = js.run(
        """return {
          encoded: arg.samples.map((s) => b64e(b64d(s))),
          lengths: arg.samples.map((s) => b64d(s).length),
          bad: arg.bad.map((t) => fails(() => b64d(t))),
          wrongLength: fails(() => b64d('AAAA', 4)),
          notString: fails(() => b64d(null)),
          ids: [
            c.isId(c.newId()), c.isId('AAAAAAAAAAAAAAAAAAAAAA'), c.isId('AAAAAAAAAAAAAAAAAAAAAB'), c.isId('AAAA'), c.isId(42),
          ],
          newIdLength: c.newId().length,
          // One in 64 random ids would begin with '-'; a writer never makes one (docs/format.md, Ids).
          dashIds: Array.from({ length: 2048 }, () => c.newId()).filter((id) => id.startsWith('-')).length,
          keyLength: c.randomKey().length,
        };""",
        {"samples": [b64(s) for s in samples], "bad": bad},
    )
    assert out["encoded"] == [b64(s) for s in samples]
    assert out["lengths"] == [len(s) for s in samples]
    assert out["bad"] == ["FormatError"] * len(bad)
    assert out["wrongLength"] == out["notString"] == "FormatError"
    assert out["ids"] == [True, True, False, False, False]
    assert (out["newIdLength"], out["keyLength"]) == (22, 32)
    assert out["dashIds"] == 0


def test_link_fragment_must_be_exactly_a_32_byte_secret(js):
    fragment = VECTORS["link_url_fragment"]
    out = js.run(
        """return {
          plain: b64e(c.decodeLinkSecret(arg)),
          hash: b64e(c.decodeLinkSecret('#' + arg)),
          bad: [arg.slice(1), arg + 'A', arg.slice(0, -1) + 'a', '##' + arg, 'key=' + arg, '', arg + '&x']
            .map((f) => fails(() => c.decodeLinkSecret(f))),
        };""",
        fragment,
    )
    assert out["plain"] == out["hash"] == VECTORS["inputs"]["link_secret"]
    assert out["bad"] == ["FormatError"] * 7


def test_password_factor_normalises_and_bound_checks(js):
    inputs = VECTORS["inputs"]
    params = inputs["password_params"]
    bad = [
        {**params, "alg": "argon2i13"},
        {**params, "opslimit": 0},
        {**params, "opslimit": 11},
        {**params, "memlimit": 8191},
        {**params, "memlimit": 1024**3 + 1},
        {**params, "opslimit": "2"},
        {**params, "salt": crypto.b64e(bytes(15))},
        {k: params[k] for k in ("alg", "opslimit", "memlimit")},
        None,
    ]
    out = js.run(
        """return {
          decomposed: b64e(c.passwordFactor(arg.password.normalize('NFD'), arg.params)),
          noAlg: b64e(c.passwordFactor(arg.password, { ...arg.params, alg: undefined })),
          bad: arg.bad.map((p) => fails(() => c.passwordFactor(arg.password, p))),
        };""",
        {"password": inputs["password"], "params": params, "bad": bad},
    )
    assert out["decomposed"] == out["noAlg"] == VECTORS["pw_factor"]
    assert out["bad"] == ["FormatError"] * len(bad)


def test_metadata_json_is_byte_for_byte_pythons(js):
    album_key, album_id, file_id, nonce = os.urandom(32), crypto.new_id(), crypto.new_id(), os.urandom(24)
    meta = {
        "title": 'Été \u2013 \U0001f305 "quoted" \\ / \u2028 \x01\t\n',
        "z": [1, 2.5, None, True, {"b": 1, "a": [{}]}],
        "\uffff": "BMP last",
        "\U0001f600": "astral key sorts after U+FFFF by code point",
        "A": {"y": "", "x": -3},
    }
    out = js.run(
        """const [key, nonce] = [b64d(arg.key), b64d(arg.nonce)];
        return {
          album: b64e(c.sealAlbumMeta(key, arg.album, arg.meta, nonce)),
          file: b64e(c.sealFileMeta(key, arg.album, arg.file, arg.meta, nonce)),
          nan: fails(() => c.sealAlbumMeta(key, arg.album, { x: NaN })),
        };""",
        {"key": b64(album_key), "nonce": b64(nonce), "album": album_id, "file": file_id, "meta": meta},
    )
    assert out["album"] == b64(crypto.seal_album_meta(album_key, album_id, meta, nonce))
    assert out["file"] == b64(crypto.seal_file_meta(album_key, album_id, file_id, meta, nonce))
    assert out["nan"] == "FormatError"


def test_metadata_that_is_not_a_v1_object_is_a_format_error(js):
    key, album_id = os.urandom(32), crypto.new_id()
    ad = crypto.AD_ALBUM_META + crypto.b64d(album_id)
    plaintexts = [b"\xff\xfe", b"not json", b"[1]", b"null", b'{"v":2}', b'{"title":"x"}', b'"v"']
    sealed = [b64(crypto.seal(key, p, ad)) for p in plaintexts]
    good = b64(crypto.seal(key, b'{"v":1,"title":"ok","later":{"x":1}}', ad))
    out = js.run(
        """const key = b64d(arg.key);
        return {
          bad: arg.sealed.map((s) => fails(() => c.openAlbumMeta(key, arg.album, b64d(s)))),
          good: c.openAlbumMeta(key, arg.album, b64d(arg.good)),
        };""",
        {"key": b64(key), "album": album_id, "sealed": sealed, "good": good},
    )
    assert out["bad"] == ["FormatError"] * len(plaintexts)
    assert out["good"] == {"v": 1, "title": "ok", "later": {"x": 1}}


# --- nothing that fails to authenticate comes back --------------------------------------


def test_every_changed_byte_fails(js):
    v = VECTORS
    out = js.run(
        """const v = arg, i = v.inputs;
        const ak = b64d(i.album_key), fk = b64d(i.file_key);
        const keys = c.linkKeys(b64d(i.link_secret));
        const flip = (bytes, at) => { const copy = bytes.slice(); copy[at] ^= 0x01; return copy; };
        const every = (bytes, open) => Array.from(bytes, (_, at) => fails(() => open(flip(bytes, at))));
        return {
          blob: every(b64d(v.blob.blob), (b) => c.decryptBlob(fk, i.file_id, 'original', b)),
          empty: every(b64d(v.empty_blob.blob), (b) => c.decryptBlob(fk, i.file_id, 'thumb', b)),
          albumKey: every(b64d(v.wrapped_album_key.sealed), (s) => c.unwrapAlbumKey(keys.wrapKey, s, i.link_id)),
          fileKey: every(b64d(v.wrapped_file_key.sealed), (s) => c.unwrapFileKey(ak, s, i.album_id, i.file_id)),
          albumMeta: every(b64d(v.album_meta.sealed), (s) => c.openAlbumMeta(ak, i.album_id, s)),
          fileMeta: every(b64d(v.file_meta.sealed), (s) => c.openFileMeta(fk, i.album_id, i.file_id, s)),
        };""",
        v,
    )
    for blob in (out["blob"], out["empty"]):
        # The magic, and a chunk size pushed out of range, say "not a v1 blob"; a chunk
        # size still in range changes every chunk's AD and the chunk boundaries.
        assert set(blob[:4]) == {"FormatError"}
        assert set(blob[4:8]) <= {"FormatError", "DecryptionError"}
        assert set(blob[8:]) == {"DecryptionError"}
    for entry in ("albumKey", "fileKey", "albumMeta", "fileMeta"):
        assert set(out[entry]) == {"DecryptionError"}, entry


def test_truncated_extended_or_reordered_blobs_fail(js):
    plaintext = os.urandom(5 * 1024 + 300)
    fk, file_id = os.urandom(32), crypto.new_id()
    blob = crypto.encrypt_blob_bytes(fk, file_id, "original", plaintext, chunk_size=1024)
    other = crypto.encrypt_blob_bytes(fk, file_id, "original", plaintext, chunk_size=1024)  # another prefix
    stride = 1024 + 16
    cuts = [0, 10, 23, 24, 25, 39, 40, 24 + stride - 1, 24 + stride, 24 + stride + 1, 24 + 5 * stride, len(blob) - 1]
    chunks = [blob[24 + k * stride : 24 + (k + 1) * stride] for k in range(6)]
    variants = {
        "appended byte": blob + b"\x00",
        "appended tag": blob + bytes(16),
        "appended chunk": blob + chunks[0],
        "swapped chunks": blob[:24] + chunks[1] + chunks[0] + b"".join(chunks[2:]),
        "repeated chunk": blob[:24] + chunks[0] + chunks[0] + b"".join(chunks[2:]),
        "dropped chunk": blob[:24] + chunks[0] + b"".join(chunks[2:]),
        "chunk from another blob": blob[:24] + other[24 : 24 + stride] + b"".join(chunks[1:]),
        "other header": other[:24] + blob[24:],
    }
    out = js.run(
        """const fk = b64d(arg.fk), blob = b64d(arg.blob);
        const open = (b, kind = 'original', id = arg.file) => fails(() => c.decryptBlob(fk, id, kind, b));
        return {
          whole: b64e(c.decryptBlob(fk, arg.file, 'original', blob)) === arg.plain,
          cuts: arg.cuts.map((n) => open(blob.slice(0, n))),
          variants: Object.fromEntries(Object.entries(arg.variants).map(([k, b]) => [k, open(b64d(b))])),
          otherKind: open(blob, 'preview'),
          otherFile: open(blob, 'original', c.newId()),
          wrongKey: fails(() => c.decryptBlob(c.randomKey(), arg.file, 'original', blob)),
          unknownKind: open(blob, 'poster'),
        };""",
        {
            "fk": b64(fk),
            "file": file_id,
            "blob": b64(blob),
            "plain": b64(plaintext),
            "cuts": cuts,
            "variants": {k: b64(b) for k, b in variants.items()},
        },
    )
    assert out["whole"] is True
    assert out["cuts"] == ["DecryptionError"] * len(cuts)
    assert out["variants"] == dict.fromkeys(variants, "DecryptionError")
    assert out["otherKind"] == out["otherFile"] == out["wrongKey"] == "DecryptionError"
    assert out["unknownKind"] == "FormatError"


def test_wrong_keys_and_wrong_places_fail(js):
    v = VECTORS
    out = js.run(
        """const v = arg, i = v.inputs, other = c.newId(), wrong = c.randomKey();
        const ak = b64d(i.album_key), fk = b64d(i.file_key);
        const keys = c.linkKeys(b64d(i.link_secret)), pwKeys = c.linkKeys(b64d(i.link_secret), b64d(v.pw_factor));
        const wak = b64d(v.wrapped_album_key.sealed), wfk = b64d(v.wrapped_file_key.sealed);
        const am = b64d(v.album_meta.sealed), fm = b64d(v.file_meta.sealed);
        const header = c.parseBlobHeader(b64d(v.blob.blob)), chunk0 = b64d(v.blob.blob).slice(24, 24 + 1040);
        return [
          fails(() => c.unwrapAlbumKey(pwKeys.wrapKey, wak, i.link_id)),  // the password is missing
          fails(() => c.unwrapAlbumKey(wrong, wak, i.link_id)),
          fails(() => c.unwrapAlbumKey(keys.wrapKey, wak, other)),
          fails(() => c.unwrapFileKey(wrong, wfk, i.album_id, i.file_id)),
          fails(() => c.unwrapFileKey(ak, wfk, other, i.file_id)),
          fails(() => c.unwrapFileKey(ak, wfk, i.file_id, i.album_id)),
          fails(() => c.openAlbumMeta(wrong, i.album_id, am)),
          fails(() => c.openAlbumMeta(ak, other, am)),
          fails(() => c.openAlbumMeta(ak, i.album_id, fm)),
          fails(() => c.openFileMeta(wrong, i.album_id, i.file_id, fm)),
          fails(() => c.openFileMeta(fk, i.album_id, other, fm)),
          fails(() => c.unwrapAlbumKey(keys.wrapKey, wak.slice(0, 39), i.link_id)),
          fails(() => c.decryptBlob(wrong, i.file_id, 'original', b64d(v.blob.blob))),
          fails(() => c.decryptChunk(wrong, i.file_id, 'original', header, 0, chunk0, false)),
          fails(() => c.decryptChunk(fk, i.file_id, 'original', header, 1, chunk0, false)),
          fails(() => c.decryptChunk(fk, i.file_id, 'original', header, 0, chunk0, true)),
          c.verifyProof(pwKeys.verifier, i.link_id, v.unlock_proof.challenge, v.unlock_proof.signature)
            ? 'ok' : 'DecryptionError',
          c.verifyProof(keys.verifier, other, v.unlock_proof.challenge, v.unlock_proof.signature) ? 'ok' : 'DecryptionError',
        ];""",
        v,
    )
    assert out == ["DecryptionError"] * len(out)


# --- random access and streaming ----------------------------------------------------------


def test_chunk_span_decrypts_exactly_the_range(js):
    chunk = 1024
    plaintext = os.urandom(10 * chunk + 500)
    fk, file_id = os.urandom(32), crypto.new_id()
    blob = crypto.encrypt_blob_bytes(fk, file_id, "preview", plaintext, chunk_size=chunk)
    size = len(plaintext)
    rng = random.Random(3)
    ranges = [(0, 1), (0, size), (chunk - 1, chunk + 1), (chunk, 2 * chunk), (size - 1, size), (10 * chunk, size), (1500, 2100)]
    ranges += [(start, end) for start, end in (sorted(rng.sample(range(size + 1), 2)) for _ in range(40))]
    out = js.run(
        """const fk = b64d(arg.fk), blob = b64d(arg.blob), header = f.parseBlobHeader(blob);
        const C = header.chunkSize, n = Math.max(1, Math.ceil(f.plaintextSize(blob.length, C) / C));
        return arg.ranges.map(([start, end]) => {
          const span = f.chunkSpan(start, end, blob.length, C);
          const fetched = blob.slice(span.ctStart, span.ctEnd);  // what a Range request returns
          const parts = [];
          for (let k = 0, at = 0; at < fetched.length; k++, at += C + 16) {
            const index = span.first + k;
            parts.push(c.decryptChunk(fk, arg.file, 'preview', header, index, fetched.slice(at, at + C + 16), index === n - 1));
          }
          const joined = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
          parts.reduce((at, p) => (joined.set(p, at), at + p.length), 0);
          // format.js spanChunks, as sw.js cuts a Range answer: the same pieces and last flags.
          const same = f.spanChunks(span, blob.length, C).every((p, k) =>
            p.index === span.first + k && p.start === k * (C + 16) && p.end === Math.min((k + 1) * (C + 16), fetched.length)
            && p.last === (p.index === n - 1)) && f.spanChunks(span, blob.length, C).length === parts.length;
          return { span, same, bytes: b64e(joined.slice(span.skip, span.skip + (end - start))) };
        });""",
        {"fk": b64(fk), "file": file_id, "blob": b64(blob), "ranges": ranges},
    )
    for (start, end), got in zip(ranges, out, strict=True):
        expected = crypto.chunk_span(start, end, len(blob), chunk)
        assert got["span"] == {
            "first": expected.first,
            "last": expected.last,
            "ctStart": expected.ct_start,
            "ctEnd": expected.ct_end,
            "skip": expected.skip,
        }, (start, end)
        assert crypto.b64d(got["bytes"]) == plaintext[start:end], (start, end)
        assert got["same"] is True, (start, end)


def test_stream_decryption_equals_whole_decryption_for_any_split(js):
    chunk = 1024
    plaintext = os.urandom(7 * chunk + 123)
    exact = os.urandom(3 * chunk)  # ends on a full last chunk
    fk, file_id = os.urandom(32), crypto.new_id()
    blob = crypto.encrypt_blob_bytes(fk, file_id, "original", plaintext, chunk_size=chunk)
    exact_blob = crypto.encrypt_blob_bytes(fk, file_id, "original", exact, chunk_size=chunk)
    empty_blob = crypto.encrypt_blob_bytes(fk, file_id, "original", b"", chunk_size=chunk)
    splits = [[1], [7, 13, 1039], [1040], [1041], [24, 1040], [3000], [len(blob)], [5, 1, 2000, 17]]
    out = js.run(
        """const fk = b64d(arg.fk), id = arg.file, blob = b64d(arg.blob);
        const stream = () => c.decryptBlobStream(fk, id, 'original');
        const whole = b64e(c.decryptBlob(fk, id, 'original', blob));
        const results = [];
        for (const sizes of arg.splits) results.push(b64e(await pipe(blob, sizes, stream())) === whole);
        // A chunk comes out as soon as it verifies and one more byte has arrived.
        const early = stream(), writer = early.writable.getWriter(), reader = early.readable.getReader();
        writer.write(blob.slice(0, 24 + 1040 + 1));
        const first = await reader.read();
        writer.abort();
        const bad = async (bytes) => failsAsync(() => pipe(bytes, [100, 999], stream()));
        const flipped = blob.slice(); flipped[3000] ^= 1;
        return {
          results, whole: whole === arg.plain,
          exact: b64e(await pipe(b64d(arg.exact_blob), [333], stream())) === arg.exact,
          empty: (await pipe(b64d(arg.empty_blob), [1], stream())).length,
          earlyLength: first.value.length,
          truncated: await Promise.all(
            [0, 10, 24, 30, 24 + 1040, 24 + 2 * 1040, blob.length - 1].map((n) => bad(blob.slice(0, n)))),
          flipped: await bad(flipped),
          trailing: await bad(new Uint8Array([...blob, 0])),
          trailingChunk: await bad(new Uint8Array([...blob, ...blob.slice(24, 24 + 1040)])),
          wrongKey: await failsAsync(() => pipe(blob, [4096], c.decryptBlobStream(c.randomKey(), id, 'original'))),
          badMagic: await failsAsync(() => pipe(new Uint8Array(64), [64], stream())),
        };""",
        {
            "fk": b64(fk),
            "file": file_id,
            "blob": b64(blob),
            "plain": b64(plaintext),
            "splits": splits,
            "exact_blob": b64(exact_blob),
            "exact": b64(exact),
            "empty_blob": b64(empty_blob),
        },
    )
    assert out["results"] == [True] * len(splits)
    assert out["whole"] and out["exact"]
    assert out["empty"] == 0
    assert out["earlyLength"] == chunk
    assert out["truncated"] == ["DecryptionError"] * 7
    assert out["flipped"] == out["trailing"] == out["trailingChunk"] == out["wrongKey"] == "DecryptionError"
    assert out["badMagic"] == "FormatError"


# --- interoperability with viewer/crypto.py ------------------------------------------------


def test_python_encrypts_the_browser_decrypts(js):
    album_key, file_key, link_secret = os.urandom(32), os.urandom(32), os.urandom(32)
    album_id, file_id, link_id = crypto.new_id(), crypto.new_id(), crypto.new_id()
    params = crypto.PasswordParams.new(opslimit=1, memlimit=64 * 1024)
    password = "pässwörd \U0001f511"
    keys = crypto.link_keys(link_secret, crypto.password_factor(password, params))
    plaintext = os.urandom(3 * crypto.DEFAULT_CHUNK_SIZE + 777)  # four chunks of the default size
    meta = {"name": "Ünïcode 📷.jpg", "mime": "image/jpeg", "size": len(plaintext), "location": [48.8584, -2.2945]}
    challenge = "AAAAAAAAAAAAAAAAAAAAAA.1700000000.abc"
    out = js.run(
        """const pw = c.passwordFactor(arg.password, arg.params);
        const keys = c.linkKeys(c.decodeLinkSecret(arg.fragment), pw);
        const ak = c.unwrapAlbumKey(keys.wrapKey, b64d(arg.wrapped_ak), arg.link);
        const fk = c.unwrapFileKey(ak, b64d(arg.wrapped_fk), arg.album, arg.file);
        return {
          verifier: b64e(keys.verifier),
          proof: c.signProof(keys, arg.link, arg.challenge),
          album: c.openAlbumMeta(ak, arg.album, b64d(arg.album_meta)),
          file: c.openFileMeta(fk, arg.album, arg.file, b64d(arg.file_meta)),
          blob: b64e(c.decryptBlob(fk, arg.file, 'original', b64d(arg.blob))),
          streamed: b64e(await pipe(b64d(arg.blob), [65537, 3], c.decryptBlobStream(fk, arg.file, 'original'))),
        };""",
        {
            "password": password,
            "params": params.to_json(),
            "fragment": crypto.encode_link_secret(link_secret),
            "link": link_id,
            "album": album_id,
            "file": file_id,
            "challenge": challenge,
            "wrapped_ak": b64(crypto.wrap_album_key(keys.wrap_key, album_key, link_id)),
            "wrapped_fk": b64(crypto.wrap_file_key(album_key, file_key, album_id, file_id)),
            "album_meta": b64(crypto.seal_album_meta(album_key, album_id, {"title": "Été"})),
            "file_meta": b64(crypto.seal_file_meta(file_key, album_id, file_id, meta)),
            "blob": b64(crypto.encrypt_blob_bytes(file_key, file_id, "original", plaintext)),
        },
    )
    assert crypto.b64d(out["verifier"]) == keys.verifier
    assert crypto.verify_proof(keys.verifier, link_id, challenge, out["proof"])
    assert out["album"] == {"v": 1, "title": "Été"}
    assert out["file"] == {"v": 1, **meta}
    assert crypto.b64d(out["blob"]) == plaintext
    assert crypto.b64d(out["streamed"]) == plaintext


def test_the_browser_encrypts_python_decrypts(js):
    out = js.run(
        """const ak = c.randomKey(), fk = c.randomKey(), secret = c.randomKey();
        const album = c.newId(), file = c.newId(), link = c.newId();
        const keys = c.linkKeys(secret);
        const plain = new Uint8Array(2 * 65536 + 4321);
        for (let at = 0; at < plain.length; at += 65536) crypto.getRandomValues(plain.subarray(at, at + 65536));
        const meta = { name: 'guest photo ✓.heic', mime: 'image/heic', size: plain.length, uploader: 'Zoë' };
        return {
          ak: b64e(ak), fk: b64e(fk), secret: c.encodeLinkSecret(secret), album, file, link, plain: b64e(plain), meta,
          proof: c.signProof(keys, link, 'challenge.1'),
          wrapped_ak: b64e(c.wrapAlbumKey(keys.wrapKey, ak, link)),
          wrapped_fk: b64e(c.wrapFileKey(ak, fk, album, file)),
          album_meta: b64e(c.sealAlbumMeta(ak, album, { title: 'From the browser' })),
          file_meta: b64e(c.sealFileMeta(fk, album, file, meta)),
          blob: b64e(c.encryptBlob(fk, file, 'original', plain)),
          small: b64e(c.encryptBlob(fk, file, 'thumb', plain.subarray(0, 5000), { chunkSize: 1024 })),
          streamed: b64e(await pipe(plain, [1, 70000, 3], c.encryptBlobStream(fk, file, 'preview'))),
          streamedExact: b64e(
            await pipe(plain.subarray(0, 2048), [100], c.encryptBlobStream(fk, file, 'thumb', { chunkSize: 1024 }))),
          streamedEmpty: b64e(await pipe(new Uint8Array(), [1], c.encryptBlobStream(fk, file, 'thumb'))),
        };"""
    )
    d = crypto.b64d
    album_key, file_key, plaintext = d(out["ak"]), d(out["fk"]), d(out["plain"])
    keys = crypto.link_keys(crypto.decode_link_secret(out["secret"]))
    assert crypto.verify_proof(keys.verifier, out["link"], "challenge.1", out["proof"])
    assert crypto.unwrap_album_key(keys.wrap_key, d(out["wrapped_ak"]), out["link"]) == album_key
    assert crypto.unwrap_file_key(album_key, d(out["wrapped_fk"]), out["album"], out["file"]) == file_key
    assert crypto.open_album_meta(album_key, out["album"], d(out["album_meta"])) == {"v": 1, "title": "From the browser"}
    assert crypto.open_file_meta(file_key, out["album"], out["file"], d(out["file_meta"])) == {"v": 1, **out["meta"]}
    assert crypto.decrypt_blob_bytes(file_key, out["file"], "original", d(out["blob"])) == plaintext
    assert crypto.decrypt_blob_bytes(file_key, out["file"], "thumb", d(out["small"])) == plaintext[:5000]
    assert crypto.decrypt_blob_bytes(file_key, out["file"], "preview", d(out["streamed"])) == plaintext
    assert crypto.decrypt_blob_bytes(file_key, out["file"], "thumb", d(out["streamedExact"])) == plaintext[:2048]
    assert crypto.decrypt_blob_bytes(file_key, out["file"], "thumb", d(out["streamedEmpty"])) == b""
    for blob in ("blob", "small", "streamed", "streamedExact", "streamedEmpty"):
        crypto.check_blob_shape(d(out[blob])[:24], len(d(out[blob])))  # what the server checks on upload
    assert len(d(out["streamedEmpty"])) == 40


# --- accounts (docs/format.md, "Accounts") ---------------------------------------------------

ACCOUNT = VECTORS["account"]
CHEAP = {"alg": "argon2id13", "salt": crypto.b64e(fixed(0, 16)), "opslimit": 2, "memlimit": 65536}  # below the floor


def cheap(params: dict) -> crypto.PasswordParams:
    """Python's parameters from the API shape without the floor (the vectors' cost is cheap on purpose)."""
    return crypto.PasswordParams(crypto.b64d(params["salt"], 16), params["opslimit"], params["memlimit"])


ACCOUNT_VECTOR_SNIPPET = """
const v = arg.account, i = v.inputs, top = arg.top;
const k = (text) => b64d(text, 32);
const mk = k(i.master_key), rk = k(i.recovery_key), seed = k(i.identity);
const keys = a.accountKeys(i.password, i.password_params);
const recovery = a.recoveryKeys(rk);
const id = a.identityKeypairs(seed);
const newKeys = a.accountKeys(i.new_password, i.new_password_params);
const nonce = (entry) => b64d(v[entry].nonce);
return {
  root: b64e(c.passwordFactor(i.password, i.password_params)),
  kek: b64e(keys.kek),
  login_key: b64e(keys.loginKey),
  recovery_words: a.recoveryWords(rk),
  words_back: b64e(a.recoveryKey(v.recovery_words)),
  rk_kek: b64e(recovery.kek),
  recovery_login_key: b64e(recovery.loginKey),
  identity_keys: {
    box_seed: b64e(c.kdf(seed, 1, 'fragidty')),
    box_public_key: b64e(id.boxPublicKey),
    box_secret_key: b64e(id.boxSecretKey),
    sign_seed: b64e(c.kdf(seed, 2, 'fragidty')),
    sign_public_key: b64e(id.signPublicKey),
    fingerprint_hash: b64e(a.fingerprintHash(id.boxPublicKey, id.signPublicKey)),
    fingerprint: id.fingerprint,
  },
  fingerprint: a.fingerprint(id.boxPublicKey, id.signPublicKey),
  seed: b64e(id.seed),
  sign_secret_key: b64e(id.signSecretKey),
  password_change: {
    root: b64e(c.passwordFactor(i.new_password, i.new_password_params)),
    kek: b64e(newKeys.kek),
    login_key: b64e(newKeys.loginKey),
  },
  sealed_master_key: b64e(a.sealMasterKey(keys.kek, mk, i.account_id, nonce('sealed_master_key'))),
  sealed_master_key_recovery: b64e(
    a.sealMasterKeyRecovery(recovery.kek, mk, i.account_id, nonce('sealed_master_key_recovery'))),
  sealed_recovery_key: b64e(a.sealRecoveryKey(mk, rk, i.account_id, nonce('sealed_recovery_key'))),
  sealed_identity: b64e(a.sealIdentity(mk, seed, i.account_id, nonce('sealed_identity'))),
  owner_album_key: b64e(a.sealOwnerAlbumKey(mk, k(top.album_key), top.album_id, nonce('owner_album_key'))),
  owner_link_secret: b64e(a.sealOwnerLinkSecret(mk, k(top.link_secret), top.link_id, nonce('owner_link_secret'))),
  new_sealed_master_key: b64e(a.sealMasterKey(newKeys.kek, mk, i.account_id, nonce('new_sealed_master_key'))),
};
"""

SEALED_ACCOUNT_VALUES = (
    "sealed_master_key",
    "sealed_master_key_recovery",
    "sealed_recovery_key",
    "sealed_identity",
    "owner_album_key",
    "owner_link_secret",
    "new_sealed_master_key",
)


def test_account_js_reproduces_every_account_vector(js):
    """Every derived value and every sealed value of the "account" vectors, byte for byte, from the inputs."""
    v = ACCOUNT
    out = js.run(ACCOUNT_VECTOR_SNIPPET, {"account": v, "top": VECTORS["inputs"]})
    # The password in the file is decomposed (a + U+0308): NFC is what makes root match.
    assert "a\u0308" in v["inputs"]["password"]
    for entry in ("root", "kek", "login_key", "recovery_words", "rk_kek", "recovery_login_key", "password_change"):
        assert out[entry] == v[entry], entry
    assert out["words_back"] == v["inputs"]["recovery_key"]
    assert out["identity_keys"] == v["identity_keys"]
    assert out["fingerprint"] == v["identity_keys"]["fingerprint"]
    assert out["seed"] == v["inputs"]["identity"]
    ids = v["identity_keys"]
    # libsodium's 64-byte Ed25519 secret key: the seed, then the public key.
    assert crypto.b64d(out["sign_secret_key"]) == crypto.b64d(ids["sign_seed"]) + crypto.b64d(ids["sign_public_key"])
    for entry in SEALED_ACCOUNT_VALUES:
        assert out[entry] == v[entry]["sealed"], entry


def test_account_js_opens_every_account_vector_and_nothing_moved(js):
    """Each sealed account value opens to its input under its key, label and id; another id, another key, a cut
    or changed byte, or any other label (the same key and id, another role) is refused."""
    out = js.run(
        """const v = arg.account, i = v.inputs, top = arg.top;
        const mk = b64d(i.master_key), kek = b64d(v.kek), rkKek = b64d(v.rk_kek), newKek = b64d(v.password_change.kek);
        const opens = {
          'master-key': a.openMasterKey, 'master-key-recovery': a.openMasterKeyRecovery,
          'recovery-key': a.openRecoveryKey, identity: a.openIdentity,
          'owner-album-key': a.openOwnerAlbumKey, 'owner-link-secret': a.openOwnerLinkSecret,
        };
        const table = {
          sealed_master_key: ['master-key', kek, i.account_id, i.master_key],
          sealed_master_key_recovery: ['master-key-recovery', rkKek, i.account_id, i.master_key],
          sealed_recovery_key: ['recovery-key', mk, i.account_id, i.recovery_key],
          sealed_identity: ['identity', mk, i.account_id, i.identity],
          owner_album_key: ['owner-album-key', mk, top.album_id, top.album_key],
          owner_link_secret: ['owner-link-secret', mk, top.link_id, top.link_secret],
          new_sealed_master_key: ['master-key', newKek, i.account_id, i.master_key],
        };
        const result = {};
        for (const [entry, [label, key, id, expected]] of Object.entries(table)) {
          const sealed = b64d(v[entry].sealed), open = opens[label];
          const flipped = sealed.slice(); flipped[40] ^= 1;
          result[entry] = {
            length: sealed.length,
            opens: b64e(open(key, sealed, id)) === expected,
            otherId: fails(() => open(key, sealed, c.newId())),
            otherKey: fails(() => open(c.randomKey(), sealed, id)),
            cut: fails(() => open(key, sealed.subarray(0, 71), id)),
            short: fails(() => open(key, sealed.subarray(0, 39), id)),
            flipped: fails(() => open(key, flipped, id)),
            otherLabels: Object.entries(opens).filter(([l]) => l !== label).map(([, o]) => fails(() => o(key, sealed, id))),
          };
        }
        return {
          result,
          oldPassword: fails(() => a.openMasterKey(kek, b64d(v.new_sealed_master_key.sealed), i.account_id)),
          loginKeyIsNotKek: fails(() => a.openMasterKey(b64d(v.login_key), b64d(v.sealed_master_key.sealed), i.account_id)),
          badId: fails(() => a.openMasterKey(kek, b64d(v.sealed_master_key.sealed), 'not an id')),
          notAKey: fails(() => a.sealMasterKey(kek, new Uint8Array(31), i.account_id)),
          sealedNotAKey: fails(() => a.openMasterKey(kek, c.seal(kek, new Uint8Array(33),
            new Uint8Array([...new TextEncoder().encode('fragment/v1/master-key\\0'), ...b64d(i.account_id)])), i.account_id)),
        };""",
        {"account": ACCOUNT, "top": VECTORS["inputs"]},
    )
    refused = "DecryptionError"
    for entry in SEALED_ACCOUNT_VALUES:
        assert out["result"][entry] == {
            "length": 72,
            "opens": True,
            "otherId": refused,
            "otherKey": refused,
            "cut": refused,
            "short": refused,
            "flipped": refused,
            "otherLabels": [refused] * 5,
        }, entry
    assert out["oldPassword"] == out["loginKeyIsNotKek"] == refused
    assert out["badId"] == out["notAKey"] == out["sealedNotAKey"] == "FormatError"


def test_recovery_words_match_the_bip39_reference_vectors_in_the_browser(js):
    """BIP-0039's published vectors for 256-bit entropy (trezor/python-mnemonic, vectors.json, "english"), as
    tests/test_crypto.py checks the Python side."""
    reference = {
        0x00: "abandon " * 23 + "art",
        0x7F: "legal winner thank year wave sausage worth useful " * 2 + "legal winner thank year wave sausage worth title",
        0x80: "letter advice cage absurd amount doctor acoustic avoid " * 2
        + "letter advice cage absurd amount doctor acoustic bless",
        0xFF: "zoo " * 23 + "vote",
    }
    out = js.run(
        """return arg.map(([byte, words]) => [a.recoveryWords(new Uint8Array(32).fill(byte)), b64e(a.recoveryKey(words))]);""",
        [[byte, words] for byte, words in reference.items()],
    )
    assert out == [[words, b64(bytes([byte]) * 32)] for byte, words in reference.items()]


def test_recovery_words_forgive_case_and_spacing_but_not_the_list_or_the_checksum_in_the_browser(js):
    """The same words and the same messages as crypto.recovery_key (docs/format.md, "Recovery words")."""
    words = ACCOUNT["recovery_words"].split()
    rk = ACCOUNT["inputs"]["recovery_key"]
    messy = "  " + "\n ".join(w.upper() if i % 2 else w.title() for i, w in enumerate(words)) + "\t"
    typo = [*words[:6], words[6][:-1] + "q", *words[7:]]
    swapped = [words[1], words[0], *words[2:]]
    bad = {
        "short": " ".join(words[:23]),
        "long": " ".join([*words, "abandon"]),
        "empty": "",
        "none": None,
        "typo": " ".join(typo),
        "swapped": " ".join(swapped),
        "last": " ".join([*words[:23], "zoo"]),  # on the list, but not the checksum's word
    }
    out = js.run(
        """const outcome = (words) => {
          try { return { key: b64e(a.recoveryKey(words)) }; } catch (e) {
            return { name: e.name, message: e.message, isFormat: e instanceof c.FormatError,
                     isWords: e instanceof a.RecoveryWordsError };
          }
        };
        return {
          messy: outcome(arg.messy), tabs: outcome(arg.words.join('\\t\\t')), bad: Object.fromEntries(
            Object.entries(arg.bad).map(([k, w]) => [k, outcome(w)])),
          notAKey: fails(() => a.recoveryWords(new Uint8Array(16))),  // BIP39 allows 16 bytes; a recovery key is 32
          count: a.RECOVERY_WORD_COUNT,
        };""",
        {"messy": messy, "words": words, "bad": bad},
    )
    assert out["messy"] == out["tabs"] == {"key": rk}
    assert crypto.recovery_key(messy) == crypto.b64d(rk)  # Python reads the same messy text the same way

    def error(message):
        return {"name": "RecoveryWordsError", "message": message, "isFormat": True, "isWords": True}

    assert out["bad"]["short"] == error("This is not a recovery key: it has 23 words, a recovery key has 24")
    assert out["bad"]["long"] == error("This is not a recovery key: it has 25 words, a recovery key has 24")
    assert out["bad"]["empty"] == out["bad"]["none"] == error("This is not a recovery key: it has 0 words, a recovery key has 24")
    assert out["bad"]["typo"] == error("This is not a recovery key: word 7 is not in the list")
    assert out["bad"]["swapped"] == out["bad"]["last"] == error("The words do not match: check for a typo")
    for key, words_text in bad.items():  # Python says the very same
        with pytest.raises(crypto.RecoveryWordsError) as info:
            crypto.recovery_key(words_text)  # type: ignore[arg-type]
        assert str(info.value) == out["bad"][key]["message"], key
    assert out["notAKey"] == "FormatError"
    assert out["count"] == 24


def test_account_params_below_the_owasp_floor_are_refused(js):
    """As for links (PasswordParams.from_json), with the account's own message; the vectors' cost is refused too."""
    salt = crypto.b64e(bytes(16))
    floor = {"alg": "argon2id13", "salt": salt, "opslimit": 2, "memlimit": 19 * 1024 * 1024}
    weak = [{**floor, "opslimit": 1}, {**floor, "memlimit": 19 * 1024 * 1024 - 1}, ACCOUNT["inputs"]["password_params"]]
    out = js.run(
        """const outcome = (p) => {
          try { a.checkAccountParams(p); return 'ok'; }
          catch (e) { return e.name === 'WeakPasswordParams' ? e.message : name(e); }
        };
        const fresh = [f.newPasswordParams(), f.newPasswordParams()];
        return {
          floor: outcome(arg.floor), weak: arg.weak.map(outcome),
          garbage: [{ ...arg.floor, opslimit: 11 }, { ...arg.floor, salt: 'AAAA' }, { ...arg.floor, alg: 'scrypt' }, null]
            .map(outcome),
          fresh, freshOk: fresh.map(outcome), sameAsCrypto: c.newPasswordParams === f.newPasswordParams,
          outOfBounds: fails(() => f.newPasswordParams(0)),
        };""",
        {"floor": floor, "weak": weak},
    )
    message = (
        "This account's password settings are weaker than Fragment allows, so the password could be guessed offline. "
        "Your password was not used."
    )
    assert out["floor"] == "ok"
    assert out["weak"] == [message] * len(weak)
    assert out["garbage"] == ["FormatError"] * 4
    # New parameters: the defaults of PasswordParams.new (which pass the floor), a fresh salt each time.
    assert out["freshOk"] == ["ok", "ok"] and out["sameAsCrypto"] is True
    for params in out["fresh"]:
        assert crypto.PasswordParams.from_json(params) == crypto.PasswordParams(crypto.b64d(params["salt"]), 3, 64 * 1024 * 1024)
    assert out["fresh"][0]["salt"] != out["fresh"][1]["salt"]
    assert out["outOfBounds"] == "FormatError"


def test_a_browser_account_opens_in_python_with_the_password_and_the_words(js):
    """newAccount in the browser: Python derives the same keys, opens every sealed value, and reads the words."""
    out = js.run(
        """const n = a.newAccount('right pässword', arg);
        const e = (x) => b64e(x);
        return {
          account_id: n.accountId, params: n.params, kek: e(n.keys.kek), login_key: e(n.keys.loginKey),
          rk_kek: e(n.recovery.kek), recovery_login_key: e(n.recovery.loginKey), master_key: e(n.masterKey),
          recovery_key: e(n.recoveryKey), words: n.recoveryWords, seed: e(n.identity.seed),
          box_pk: e(n.identity.boxPublicKey), sign_pk: e(n.identity.signPublicKey), fingerprint: n.identity.fingerprint,
          sealed_mk: e(n.sealedMasterKey), sealed_mk_rk: e(n.sealedMasterKeyRecovery), sealed_rk: e(n.sealedRecoveryKey),
          sealed_identity: e(n.sealedIdentity),
          again: e(a.accountKeys('right pässword', n.params).kek),
          other: a.newAccount('right pässword', arg).accountId,
        };""",
        CHEAP,
    )
    d = crypto.b64d
    aid = out["account_id"]
    assert crypto.is_id(aid) and out["params"] == CHEAP and out["other"] != aid
    keys = crypto.account_keys("right pässword", cheap(CHEAP))
    assert (crypto.b64e(keys.kek), crypto.b64e(keys.login_key)) == (out["kek"], out["login_key"]) and out["again"] == out["kek"]
    # Five different keys: nothing sent or stored doubles as a key that seals.
    assert len({out[k] for k in ("kek", "login_key", "rk_kek", "recovery_login_key", "master_key")}) == 5
    for sealed in ("sealed_mk", "sealed_mk_rk", "sealed_rk", "sealed_identity"):
        assert len(d(out[sealed])) == 72, sealed
    mk = crypto.open_master_key(keys.kek, d(out["sealed_mk"]), aid)
    assert crypto.b64e(mk) == out["master_key"]
    rk = crypto.open_recovery_key(mk, d(out["sealed_rk"]), aid)
    assert crypto.b64e(rk) == out["recovery_key"] and crypto.recovery_words(rk) == out["words"]
    recovery = crypto.recovery_keys(crypto.recovery_key(out["words"]))
    assert (crypto.b64e(recovery.kek), crypto.b64e(recovery.login_key)) == (out["rk_kek"], out["recovery_login_key"])
    assert crypto.open_master_key_recovery(recovery.kek, d(out["sealed_mk_rk"]), aid) == mk
    identity = crypto.identity_keypairs(crypto.open_identity(mk, d(out["sealed_identity"]), aid))
    assert crypto.b64e(identity.seed) == out["seed"]
    assert (crypto.b64e(identity.box_public_key), crypto.b64e(identity.sign_public_key)) == (out["box_pk"], out["sign_pk"])
    assert identity.fingerprint == out["fingerprint"]
    with pytest.raises(crypto.DecryptionError):
        crypto.open_master_key(crypto.account_keys("wrong password", cheap(CHEAP)).kek, d(out["sealed_mk"]), aid)


def test_a_python_account_opens_in_the_browser_and_changes_its_password_there(js):
    """crypto.new_account in Python: the browser signs in, recovers with the (messy) words, checks the published
    public keys, opens the owner's copies, and sets a new password that Python opens; wrong ones are refused."""
    account = crypto.new_account("pässword one", cheap(CHEAP))
    aid, mk = account.account_id, account.master_key
    album_id, link_id, album_key, link_secret = crypto.new_id(), crypto.new_id(), os.urandom(32), os.urandom(32)
    new_params = {**CHEAP, "salt": crypto.b64e(fixed(0x70, 16))}
    out = js.run(
        """const d = (x) => b64d(x);
        const keys = a.accountKeys(arg.password, arg.params);
        const mk = a.openMasterKey(keys.kek, d(arg.sealed_mk), arg.id);
        const rk = a.recoveryKey(arg.words.toUpperCase().split(' ').join('  \\n'));
        const recovered = a.openMasterKeyRecovery(a.recoveryKeys(rk).kek, d(arg.sealed_mk_rk), arg.id);
        const identity = a.identityKeypairs(a.openIdentity(mk, d(arg.sealed_identity), arg.id));
        const checked = a.checkIdentity(identity, d(arg.box_pk), d(arg.sign_pk)) === identity;
        const change = a.changePassword(recovered, arg.id, 'pässword two', arg.new_params);
        return {
          login_key: b64e(keys.loginKey), mk: b64e(mk), recovered: b64e(recovered),
          words: a.recoveryWords(a.openRecoveryKey(mk, d(arg.sealed_rk), arg.id)),
          fingerprint: identity.fingerprint, checked,
          swappedBox: fails(() => a.checkIdentity(identity, d(arg.sign_pk), d(arg.sign_pk))),
          swappedSign: fails(() => a.checkIdentity(identity, d(arg.box_pk), c.randomKey())),
          album_key: b64e(a.openOwnerAlbumKey(mk, d(arg.owner_ak), arg.album)),
          link_secret: b64e(a.openOwnerLinkSecret(mk, d(arg.owner_ls), arg.link)),
          owner_ak: b64e(a.sealOwnerAlbumKey(mk, d(arg.album_key), arg.album)),
          owner_ls: b64e(a.sealOwnerLinkSecret(mk, d(arg.link_secret), arg.link)),
          change: { params: change.params, kek: b64e(change.keys.kek), login_key: b64e(change.keys.loginKey),
                    sealed_mk: b64e(change.sealedMasterKey) },
          wrongPassword: fails(() => a.openMasterKey(a.accountKeys('pässword 1', arg.params).kek, d(arg.sealed_mk), arg.id)),
          otherSalt: fails(() => a.openMasterKey(a.accountKeys(arg.password, arg.new_params).kek, d(arg.sealed_mk), arg.id)),
          wrongWords: fails(() => a.openMasterKeyRecovery(a.recoveryKeys(a.recoveryKey(arg.other_words)).kek,
            d(arg.sealed_mk_rk), arg.id)),
          oldPasswordOnNew: fails(() => a.openMasterKey(keys.kek, change.sealedMasterKey, arg.id)),
          changeBadId: fails(() => a.changePassword(recovered, 'x', 'p', arg.new_params)),
        };""",
        {
            "password": "pa\u0308ssword one",  # decomposed here, composed in Python: NFC makes them one password
            "params": CHEAP,
            "new_params": new_params,
            "id": aid,
            "words": account.recovery_words,
            "other_words": crypto.recovery_words(os.urandom(32)),
            "sealed_mk": b64(account.sealed_master_key),
            "sealed_mk_rk": b64(account.sealed_master_key_recovery),
            "sealed_rk": b64(account.sealed_recovery_key),
            "sealed_identity": b64(account.sealed_identity),
            "box_pk": b64(account.identity.box_public_key),
            "sign_pk": b64(account.identity.sign_public_key),
            "album": album_id,
            "link": link_id,
            "album_key": b64(album_key),
            "link_secret": b64(link_secret),
            "owner_ak": b64(crypto.seal_owner_album_key(mk, album_key, album_id)),
            "owner_ls": b64(crypto.seal_owner_link_secret(mk, link_secret, link_id)),
        },
    )
    d = crypto.b64d
    assert out["login_key"] == b64(account.keys.login_key)
    assert out["mk"] == out["recovered"] == b64(mk)
    assert out["words"] == account.recovery_words
    assert out["fingerprint"] == account.identity.fingerprint and out["checked"] is True
    assert out["swappedBox"] == out["swappedSign"] == "FormatError"
    assert (out["album_key"], out["link_secret"]) == (b64(album_key), b64(link_secret))
    assert crypto.open_owner_album_key(mk, d(out["owner_ak"]), album_id) == album_key
    assert crypto.open_owner_link_secret(mk, d(out["owner_ls"]), link_id) == link_secret
    change = out["change"]
    assert change["params"] == new_params
    new_keys = crypto.account_keys("pässword two", cheap(new_params))
    assert (b64(new_keys.kek), b64(new_keys.login_key)) == (change["kek"], change["login_key"])
    assert crypto.open_master_key(new_keys.kek, d(change["sealed_mk"]), aid) == mk
    with pytest.raises(crypto.DecryptionError):
        crypto.open_master_key(account.keys.kek, d(change["sealed_mk"]), aid)
    refused = ("wrongPassword", "otherSalt", "wrongWords", "oldPasswordOnNew")
    assert [out[k] for k in refused] == ["DecryptionError"] * len(refused)
    assert out["changeBadId"] == "FormatError"


# --- sharing (docs/format.md, "Sharing") -------------------------------------------------------

SHARING = VECTORS["sharing"]

SHARING_VECTOR_SNIPPET = """
const v = arg.sharing, i = v.inputs, top = arg.top;
const k = (text) => b64d(text, 32);
const ak = k(top.album_key), mk = k(i.owner_master_key);
const m = v.member_album_key, chain = v.album_key_chain.chain;
const epochs = Object.fromEntries(Object.entries(i.epoch_keys).map(([e, key]) => [e, k(key)]));
const sealedChain = { 1: b64d(chain['1'].sealed), 2: b64d(chain['2'].sealed) };
const all = a.albumKeys(epochs[2], v.album_key_chain.current_epoch, top.album_id, sealedChain);
const secret = a.decodeInviteSecret('#' + v.invitation.fragment);
const inv = a.invitationKeys(secret);
const member = a.identityKeypairs(b64d(i.member_identity, 32));
const sealed = b64d(m.sealed);
const flipped = sealed.slice(); flipped[60] ^= 1;
const other = a.identityKeypairs(c.randomKey());
const open = (s, id, pk, sk) => fails(() => a.openMemberAlbumKey(s, id, pk, sk));
return {
  member_key_bytes: a.MEMBER_KEY_BYTES,
  member: {
    box_public_key: b64e(member.boxPublicKey),
    box_secret_key: b64e(member.boxSecretKey),
    opens: b64e(a.openMemberAlbumKey(sealed, top.album_id, member.boxPublicKey, member.boxSecretKey)),
    plaintext: b64e(c.boxSealOpen(sealed, member.boxPublicKey, member.boxSecretKey)),
    otherAlbum: open(sealed, c.newId(), member.boxPublicKey, member.boxSecretKey),
    flipped: open(flipped, top.album_id, member.boxPublicKey, member.boxSecretKey),
    otherRecipient: open(sealed, top.album_id, other.boxPublicKey, other.boxSecretKey),
    truncated: open(sealed.subarray(0, 124), top.album_id, member.boxPublicKey, member.boxSecretKey),
  },
  chain: {
    1: b64e(a.sealAlbumKeyChain(epochs[1], epochs[0], top.album_id, 1, b64d(chain['1'].nonce))),
    2: b64e(a.sealAlbumKeyChain(epochs[2], epochs[1], top.album_id, 2, b64d(chain['2'].nonce))),
  },
  keys: Object.fromEntries([...all].map(([e, key]) => [e, b64e(key)])),
  removed: Object.fromEntries([...a.albumKeys(epochs[1], 1, top.album_id, new Map([[1, sealedChain[1]]]))]
    .map(([e, key]) => [e, b64e(key)])),
  invitation: {
    fragment: a.encodeInviteSecret(secret),
    invite_key: b64e(inv.inviteKey),
    claim_key: b64e(inv.claimKey),
    claim_key_sha256: b64e(new Uint8Array(await crypto.subtle.digest('SHA-256', inv.claimKey))),
    sealed: b64e(a.sealInvitationAlbumKey(inv.inviteKey, ak, i.invite_id, top.album_id, b64d(v.invitation.nonce))),
    opens: b64e(a.openInvitationAlbumKey(inv.inviteKey, b64d(v.invitation.sealed), i.invite_id, top.album_id)),
  },
  contacts: {
    sealed: b64e(a.sealContacts(mk, i.owner_account_id, i.contacts, b64d(v.contacts.nonce))),
    opens: a.openContacts(mk, b64d(v.contacts.sealed), i.owner_account_id),
    plain: new TextDecoder().decode(c.openSealed(mk, b64d(v.contacts.sealed),
      new Uint8Array([...new TextEncoder().encode('fragment/v1/contacts\\0'), ...b64d(i.owner_account_id)]))),
  },
  owner_link_wrap_key: {
    sealed: b64e(a.sealOwnerLinkWrapKey(mk, c.linkKeys(k(top.link_secret), c.passwordFactor(top.password,
      top.password_params)).wrapKey, top.link_id, b64d(v.owner_link_wrap_key.nonce))),
    opens: b64e(a.openOwnerLinkWrapKey(mk, b64d(v.owner_link_wrap_key.sealed), top.link_id)),
  },
};
"""


def test_account_js_reproduces_and_opens_every_sharing_vector(js):
    """The "sharing" vectors with account.js: every sealed value byte for byte from its nonce, the member's
    sealed box (made once) opened to AK and refused for another album, a flipped byte, a cut one, or another
    recipient; the chain opens every older key, and a removed member's key opens only the older ones."""
    v, top = SHARING, VECTORS["inputs"]
    out = js.run(SHARING_VECTOR_SNIPPET, {"sharing": v, "top": top})
    assert out["member_key_bytes"] == 125
    member = out["member"]
    assert (member["box_public_key"], member["box_secret_key"]) == (
        v["member_album_key"]["box_public_key"],
        v["member_album_key"]["box_secret_key"],
    )
    assert member["opens"] == top["album_key"] and member["plaintext"] == v["member_album_key"]["plaintext"]
    assert [member[k] for k in ("otherAlbum", "flipped", "otherRecipient", "truncated")] == ["DecryptionError"] * 4
    assert out["chain"] == {e: entry["sealed"] for e, entry in v["album_key_chain"]["chain"].items()}
    assert out["keys"] == v["inputs"]["epoch_keys"]
    assert out["removed"] == {"1": v["inputs"]["epoch_keys"]["1"], "0": v["inputs"]["epoch_keys"]["0"]}
    invitation = dict(out["invitation"])
    assert invitation.pop("opens") == top["album_key"]
    assert invitation == {k: val for k, val in v["invitation"].items() if k != "nonce"}
    contacts = out["contacts"]
    assert contacts["sealed"] == v["contacts"]["sealed"] and contacts["opens"] == v["inputs"]["contacts"]
    # Padded to 256 bytes of UTF-8 (the e-mail's "ë" is two of them).
    assert contacts["plain"].encode() == v["contacts"]["json"].encode().ljust(v["contacts"]["padded_length"])
    wrap = out["owner_link_wrap_key"]
    assert wrap == {"sealed": v["owner_link_wrap_key"]["sealed"], "opens": v["owner_link_wrap_key"]["wrap_key"]}


def test_account_js_sharing_values_refuse_another_place_role_or_shape(js):
    """What crypto.py refuses, account.js refuses: another epoch or album in the chain, a missing entry, a member
    box with another label or album inside, ids swapped in an invitation, contacts of another shape."""
    out = js.run(
        """const id = c.newId(), k0 = c.randomKey(), k1 = c.randomKey(), k2 = c.randomKey(), mk = c.randomKey();
        const chain = { 1: a.sealAlbumKeyChain(k1, k0, id, 1), 2: a.sealAlbumKeyChain(k2, k1, id, 2) };
        const cut = chain[2].slice(0, 71);
        const member = a.identityKeypairs(c.randomKey()), pk = member.boxPublicKey, sk = member.boxSecretKey;
        const label = new TextEncoder().encode('fragment/v1/member-album-key\\0');
        const forge = (...parts) => c.boxSeal(new Uint8Array(parts.flatMap((p) => [...p])), pk);
        const inv = a.invitationKeys(c.randomKey()), inviteId = c.newId();
        const invited = a.sealInvitationAlbumKey(inv.inviteKey, k0, inviteId, id);
        const contact = { email: 'ann@example.org', box_pk: b64e(pk), sign_pk: b64e(member.signPublicKey),
          first_seen: 1700000000, verified: false };
        const bad = (change) => fails(() => a.sealContacts(mk, id, { [c.newId()]: { ...contact, ...change } }));
        const wrapped = a.sealOwnerLinkWrapKey(mk, k1, id);
        const chainMessage = (f) => { try { f(); return 'ok'; } catch (e) { return `${name(e)}: ${e.message}`; } };
        return {
          chain: {
            anotherEpoch: fails(() => a.openAlbumKeyChain(k2, chain[2], id, 3)),
            anotherAlbum: fails(() => a.openAlbumKeyChain(k2, chain[2], c.newId(), 2)),
            cut: chainMessage(() => a.albumKeys(k2, 2, id, { ...chain, 2: cut })),
            missing: chainMessage(() => a.albumKeys(k2, 2, id, { 2: chain[2] })),
            moved: chainMessage(() => a.albumKeys(k2, 2, id, { 1: chain[2], 2: chain[2] })),
            epochs: [0, -1, 2 ** 31, 1.5, '1', true].map((e) => fails(() => a.sealAlbumKeyChain(k1, k0, id, e))),
            neverRekeyed: [...a.albumKeys(k0, 0, id, {})].length,
          },
          member: {
            twice: b64e(a.sealMemberAlbumKey(k0, id, pk)) !== b64e(a.sealMemberAlbumKey(k0, id, pk)),
            anotherLabel: fails(() => a.openMemberAlbumKey(forge(new TextEncoder().encode(
              'fragment/v1/owner-album-key\\0\\0'), b64d(id), k0), id, pk, sk)),
            noLabel: fails(() => a.openMemberAlbumKey(forge(new Uint8Array(29), b64d(id), k0), id, pk, sk)),
            anotherAlbum: fails(() => a.openMemberAlbumKey(forge(label, b64d(c.newId()), k0), id, pk, sk)),
            tooLong: fails(() => a.openMemberAlbumKey(forge(label, b64d(id), k0, [1]), id, pk, sk)),
            lowOrder: fails(() => a.sealMemberAlbumKey(k0, id, new Uint8Array(32))),
            shortKey: fails(() => a.sealMemberAlbumKey(k0, id, pk.subarray(0, 31))),
          },
          invitation: {
            swapped: fails(() => a.openInvitationAlbumKey(inv.inviteKey, invited, id, inviteId)),
            claimKey: fails(() => a.openInvitationAlbumKey(inv.claimKey, invited, inviteId, id)),
            badFragment: fails(() => a.decodeInviteSecret('#abc')),
          },
          contacts: {
            shapes: [{ box_pk: 'short' }, { sign_pk: null }, { email: 5 }, { first_seen: true }, { first_seen: -1 },
              { first_seen: 1.5 }, { verified: 1 }].map(bad),
            notAnId: fails(() => a.sealContacts(mk, id, { 'ann@example.org': contact })),
            status: [a.contactStatus({ [id]: contact }, id, pk, member.signPublicKey),
              a.contactStatus({ [id]: contact }, c.newId(), pk, member.signPublicKey),
              a.contactStatus({ [id]: contact }, id, c.randomKey(), member.signPublicKey),
              a.contactStatus({}, 'constructor', pk, member.signPublicKey)],
            otherAccount: fails(() => a.openContacts(mk, a.sealContacts(mk, id, {}), c.newId())),
            sizes: [a.sealContacts(mk, id, {}).length, a.sealContacts(mk, id, { [c.newId()]: contact }).length],
          },
          wrap: {
            anotherLink: fails(() => a.openOwnerLinkWrapKey(mk, wrapped, c.newId())),
            asLinkSecret: fails(() => a.openOwnerLinkSecret(mk, wrapped, id)),
          },
        };"""
    )
    refused = "DecryptionError"
    chain = out["chain"]
    assert chain["anotherEpoch"] == chain["anotherAlbum"] == refused
    assert chain["cut"] == "DecryptionError: the album key chain entry for epoch 2 does not open"
    assert chain["missing"] == "FormatError: the album key chain has no entry for epoch 1"
    assert chain["moved"] == "DecryptionError: the album key chain entry for epoch 1 does not open"
    assert chain["epochs"] == ["FormatError"] * 6 and chain["neverRekeyed"] == 1
    member = out["member"]
    assert member.pop("twice") is True
    assert member.pop("lowOrder") == member.pop("shortKey") == "FormatError"
    assert set(member.values()) == {refused}
    assert out["invitation"] == {"swapped": refused, "claimKey": refused, "badFragment": "FormatError"}
    contacts = out["contacts"]
    assert contacts["shapes"] == ["FormatError"] * 7 and contacts["notAnId"] == "FormatError"
    assert contacts["status"] == ["same", "new", "changed", "new"]
    assert contacts["otherAccount"] == refused and contacts["sizes"] == [296, 296]
    assert out["wrap"] == {"anotherLink": refused, "asLinkSecret": refused}


def test_sealed_boxes_chains_and_contacts_cross_between_python_and_the_browser(js):
    """Python seals a member's key, a chain, an invitation, contacts, favorites and the owner's copy of an invitation
    secret, the browser opens them; the browser seals
    the same, Python opens them (PyNaCl's SealedBox too): either side can share with the other."""
    from nacl.public import PrivateKey, SealedBox

    album_id, invite_id, me, ann_id = crypto.new_id(), crypto.new_id(), crypto.new_id(), crypto.new_id()
    k0, k1, mk, invite_secret = os.urandom(32), os.urandom(32), os.urandom(32), os.urandom(32)
    js_member, py_member = crypto.identity_keypairs(os.urandom(32)), crypto.identity_keypairs(os.urandom(32))
    invite = crypto.invitation_keys(invite_secret)
    contacts = {
        ann_id: {
            "email": "änn@example.org",
            "box_pk": b64(py_member.box_public_key),
            "sign_pk": b64(py_member.sign_public_key),
            "first_seen": 1712345678,
            "verified": True,
        }
    }
    arg = {
        "album_id": album_id,
        "invite_id": invite_id,
        "me": me,
        "mk": b64(mk),
        "seed": b64(js_member.seed),
        "py_box_pk": b64(py_member.box_public_key),
        "member": b64(crypto.seal_member_album_key(k1, album_id, js_member.box_public_key)),
        "chain": b64(crypto.seal_album_key_chain(k1, k0, album_id, 1)),
        "k1": b64(k1),
        "k0": b64(k0),
        "fragment": crypto.encode_invite_secret(invite_secret),
        "invitation": b64(crypto.seal_invitation_album_key(invite.invite_key, k1, invite_id, album_id)),
        "contacts": b64(crypto.seal_contacts(mk, me, contacts)),
        "contacts_plain": contacts,
        "favorites": b64(crypto.seal_favorites(mk, me, {album_id: [invite_id, ann_id]})),
        "owner_invite": b64(crypto.seal_owner_invite_secret(invite_secret, invite_id, js_member.box_public_key)),
    }
    out = js.run(
        """const id = a.identityKeypairs(b64d(arg.seed)), mk = b64d(arg.mk), k1 = b64d(arg.k1), k0 = b64d(arg.k0);
        const inv = a.invitationKeys(a.decodeInviteSecret(arg.fragment));
        const keys = a.albumKeys(k1, 1, arg.album_id, { 1: b64d(arg.chain) });
        return {
          member: b64e(a.openMemberAlbumKey(b64d(arg.member), arg.album_id, id.boxPublicKey, id.boxSecretKey)),
          keys: [b64e(keys.get(1)), b64e(keys.get(0))],
          invitation: b64e(a.openInvitationAlbumKey(inv.inviteKey, b64d(arg.invitation), arg.invite_id, arg.album_id)),
          contacts: a.openContacts(mk, b64d(arg.contacts), arg.me),
          favorites: a.openFavorites(mk, b64d(arg.favorites), arg.me),
          ownerInvite: b64e(a.openOwnerInviteSecret(b64d(arg.owner_invite), arg.invite_id, id.boxPublicKey, id.boxSecretKey)),
          sealed: {
            favorites: b64e(a.sealFavorites(mk, arg.me, { [arg.album_id]: [arg.me] })),
            ownerInvite: b64e(a.sealOwnerInviteSecret(k0, arg.invite_id, b64d(arg.py_box_pk))),
            member: b64e(a.sealMemberAlbumKey(k1, arg.album_id, b64d(arg.py_box_pk))),
            chain: b64e(a.sealAlbumKeyChain(k1, k0, arg.album_id, 1)),
            invitation: b64e(a.sealInvitationAlbumKey(inv.inviteKey, k1, arg.invite_id, arg.album_id)),
            contacts: b64e(a.sealContacts(mk, arg.me, arg.contacts_plain)),
            wrap: b64e(a.sealOwnerLinkWrapKey(mk, k0, arg.invite_id)),
          },
        };""",
        arg,
    )
    assert out["member"] == b64(k1) and out["keys"] == [b64(k1), b64(k0)] and out["invitation"] == b64(k1)
    assert out["contacts"] == contacts
    assert out["favorites"] == {album_id: [invite_id, ann_id]} and out["ownerInvite"] == b64(invite_secret)
    sealed = {name: crypto.b64d(value) for name, value in out["sealed"].items()}
    assert crypto.open_favorites(mk, sealed["favorites"], me) == {album_id: [me]}
    box = py_member.box_public_key, py_member.box_secret_key
    assert crypto.open_owner_invite_secret(sealed["ownerInvite"], invite_id, *box) == k0
    assert len(sealed["member"]) == crypto.MEMBER_KEY_BYTES
    box_pk, box_sk = py_member.box_public_key, py_member.box_secret_key
    assert crypto.open_member_album_key(sealed["member"], album_id, box_pk, box_sk) == k1
    assert SealedBox(PrivateKey(box_sk)).decrypt(sealed["member"])[-32:] == k1
    with pytest.raises(crypto.DecryptionError):
        crypto.open_member_album_key(sealed["member"], crypto.new_id(), box_pk, box_sk)
    assert crypto.album_keys(k1, 1, album_id, {1: sealed["chain"]}) == {1: k1, 0: k0}
    assert crypto.open_invitation_album_key(invite.invite_key, sealed["invitation"], invite_id, album_id) == k1
    assert crypto.open_contacts(mk, sealed["contacts"], me) == contacts
    assert crypto.open_owner_link_wrap_key(mk, sealed["wrap"], invite_id) == k0


WORKER_SOURCE = """
import * as c from '/static/js/core/crypto.js';
onmessage = async ({ data }) => {
  await c.ready();
  const plain = c.decryptBlob(c.b64d(data.fk), data.file, 'original', c.b64d(data.blob));
  postMessage({ plain: c.b64e(plain), secret: c.b64e(c.decodeLinkSecret(data.fragment)) });
};
"""


def test_crypto_js_runs_in_a_worker_without_the_import_map(js, page, live_server):
    """Workers have no import map (MDN): crypto.js and libsodium must resolve by URL alone.

    The test's Worker script is served from this origin, with a static file's own headers
    (its CSP included): the page policy's worker-src allows only 'self', no blob: Workers."""

    def serve_worker(route):
        original = route.fetch(url=live_server["url"] + "/static/js/core/format.js")
        route.fulfill(response=original, body=WORKER_SOURCE)

    page.context.route("**/static/js/test-only-worker.js", serve_worker)
    v = VECTORS
    out = js.run(
        """const worker = new Worker('/static/js/test-only-worker.js', { type: 'module' });
        const answer = new Promise((resolve, reject) => {
          worker.onmessage = ({ data }) => resolve(data);
          worker.onerror = (e) => reject(new Error(e.message || 'worker failed'));
        });
        worker.postMessage({
          fk: arg.inputs.file_key, file: arg.inputs.file_id, blob: arg.blob.blob, fragment: arg.link_url_fragment,
        });
        const result = await answer;
        worker.terminate();
        return result;""",
        v,
    )
    assert out == {"plain": v["blob"]["plaintext"], "secret": v["inputs"]["link_secret"]}


ACCOUNT_WORKER_SOURCE = """
import * as c from '/static/js/core/crypto.js';
import * as a from '/static/js/core/account.js';
onmessage = async ({ data }) => {
  await c.ready();
  const keys = a.accountKeys(data.inputs.password, data.inputs.password_params);
  const mk = a.openMasterKey(keys.kek, c.b64d(data.sealed_master_key.sealed), data.inputs.account_id);
  const rk = a.recoveryKey(data.recovery_words);
  postMessage({
    kek: c.b64e(keys.kek), master_key: c.b64e(mk), words: a.recoveryWords(rk), recovery_key: c.b64e(rk),
    fingerprint: a.identityKeypairs(c.b64d(data.inputs.identity)).fingerprint,
  });
};
"""


def test_account_js_runs_in_a_worker_without_the_import_map(js, page, live_server):
    """The owner's Argon2id runs in a Worker, which has no import map: account.js, @scure/bip39 and the
    @noble/hashes files it imports (rewritten to relative URLs by assets.py) must resolve by URL alone."""

    def serve_worker(route):
        original = route.fetch(url=live_server["url"] + "/static/js/core/format.js")
        route.fulfill(response=original, body=ACCOUNT_WORKER_SOURCE)

    page.context.route("**/static/js/test-only-account-worker.js", serve_worker)
    v = ACCOUNT
    out = js.run(
        """const worker = new Worker('/static/js/test-only-account-worker.js', { type: 'module' });
        const answer = new Promise((resolve, reject) => {
          worker.onmessage = ({ data }) => resolve(data);
          worker.onerror = (e) => reject(new Error(e.message || 'worker failed'));
        });
        worker.postMessage(arg);
        const result = await answer;
        worker.terminate();
        return result;""",
        v,
    )
    assert out == {
        "kek": v["kek"],
        "master_key": v["inputs"]["master_key"],
        "words": v["recovery_words"],
        "recovery_key": v["inputs"]["recovery_key"],
        "fingerprint": v["identity_keys"]["fingerprint"],
    }


def test_a_blob_worker_is_refused_by_the_page_policy(js, console):
    """worker-src 'self' and nothing else: a Worker from a blob: URL never starts."""
    console.expect(r"Content Security Policy|worker-src")
    out = js.run(
        """const url = URL.createObjectURL(new Blob(['postMessage(1)'], { type: 'text/javascript' }));
        try {
          const worker = new Worker(url, { type: 'module' });
          return await new Promise((resolve) => {
            worker.onmessage = () => resolve('ran');
            worker.onerror = () => resolve('refused');
            setTimeout(() => resolve('refused'), 3000);
          });
        } catch (e) { return e.name === 'SecurityError' ? 'refused' : String(e); }"""
    )
    assert out == "refused"


# --- the page: CSP, import map, Subresource Integrity ------------------------------------------


def sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def test_home_page_loads_under_the_csp_with_every_file_pinned(page, live_server, network):
    url = live_server["url"]
    response = page.goto(url + "/")
    csp = response.headers["content-security-policy"]
    found = page.evaluate(
        """() => ({
          scripts: [...document.querySelectorAll('script')].map((s) => ({
            type: s.type, src: s.getAttribute('src'), integrity: s.getAttribute('integrity'), text: s.textContent,
          })),
          styles: [...document.querySelectorAll('link[rel~=stylesheet]')].map((l) => ({
            href: l.getAttribute('href'), integrity: l.getAttribute('integrity'),
          })),
          sheets: document.styleSheets.length,
        })"""
    )
    assert found["sheets"] >= 1  # the stylesheet loaded, so its integrity matched
    inline = [s for s in found["scripts"] if not s["src"]]
    assert [s["type"] for s in inline] == ["importmap"], "the import map is the only inline script"
    text = inline[0]["text"]
    assert f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'" in csp
    assert "'unsafe-inline'" not in csp and "script-src 'self' 'wasm-unsafe-eval' 'sha256-" in csp
    for element in [*(s for s in found["scripts"] if s["src"]), *found["styles"]]:
        target = element.get("src") or element["href"]
        assert element["integrity"] == sri(requests.get(url + target, timeout=10).content), target
    importmap = json.loads(text)
    assert set(importmap["imports"]) == {
        "libsodium-wrappers-sumo",
        "libsodium-sumo",
        "photoswipe",
        "photoswipe/lightbox",
        "client-zip",
        "exifr",
        "lean-qr",
        "@scure/bip39",
        "@scure/bip39/wordlists/english.js",
        "@noble/hashes/pbkdf2.js",
        "@noble/hashes/sha2.js",
        "@noble/hashes/utils.js",
        "@noble/hashes/webcrypto.js",
    }
    assert set(importmap["imports"].values()) <= set(importmap["integrity"])
    assert "/static/js/core/crypto.js" in importmap["integrity"]
    assert "/static/js/core/account.js" in importmap["integrity"]
    assert "/vendor/@noble/hashes/_u64.js" in importmap["integrity"]  # imported by a module that bip39 imports
    for module, value in importmap["integrity"].items():
        served = requests.get(url + module, timeout=10)
        assert served.ok and served.headers["Content-Type"].startswith("text/javascript"), module
        assert value == sri(served.content), module
    assert all(u.startswith(url) for u in network.urls()), "no third-party origins"


def test_every_bare_specifier_loads_through_the_import_map(page, live_server):
    page.goto(live_server["url"] + "/")
    loaded = page.evaluate(
        """async () => {
          const names = ['libsodium-wrappers-sumo', 'photoswipe', 'photoswipe/lightbox', 'client-zip', 'exifr',
            '@scure/bip39', '@scure/bip39/wordlists/english.js', '@noble/hashes/pbkdf2.js', '@noble/hashes/sha2.js',
            '@noble/hashes/utils.js', '@noble/hashes/webcrypto.js'];
          return Object.fromEntries(await Promise.all(names.map(async (n) => [n, Object.keys(await import(n)).length > 0])));
        }"""
    )
    assert loaded == dict.fromkeys(loaded, True) and len(loaded) == 11


@pytest.mark.parametrize(
    ("target", "module"),
    [
        # imported by a module that crypto.js imports
        ("/vendor/libsodium-sumo/dist/modules-sumo-esm/libsodium-sumo.mjs", "crypto.js"),
        ("/vendor/libsodium-wrappers-sumo/dist/modules-sumo-esm/libsodium-wrappers.mjs", "crypto.js"),
        ("/static/js/core/crypto.js", "crypto.js"),
        ("/static/js/core/format.js", "crypto.js"),  # imported by crypto.js
        ("/static/js/core/account.js", "account.js"),
        ("/vendor/@scure/bip39/index.js", "account.js"),
        ("/vendor/@scure/bip39/wordlists/english.js", "account.js"),
        ("/vendor/@noble/hashes/_u64.js", "account.js"),  # three imports deep: bip39, sha2.js, _u64.js
    ],
)
def test_a_changed_module_is_refused(page, console, live_server, target, module):
    """A module whose bytes differ from its integrity value never runs, however deep in the graph."""
    url = live_server["url"]

    def tamper(route):
        original = route.fetch()
        route.fulfill(response=original, body=original.body() + b"\n// changed in transit\n")

    page.route(url + target, tamper)
    console.expect(r"integrity|digest")
    page.goto(url + "/")
    error = page.evaluate(f"() => import('/static/js/core/{module}').then(() => 'loaded', (e) => String(e))")
    assert error != "loaded"


def test_an_inline_script_other_than_the_import_map_is_refused(page, console, live_server):
    """The CSP hash allows exactly the import map's text: one more space and it is blocked."""
    url = live_server["url"]

    def tamper(route):
        original = route.fetch()
        html = original.text().replace('<script type="importmap">{', '<script type="importmap"> {', 1)
        route.fulfill(response=original, body=html)

    page.route(url + "/", tamper)
    console.expect(r"Refused to (execute|apply) inline script|Content Security Policy")
    page.goto(url + "/")
    result = page.evaluate("() => import('client-zip').then(() => 'resolved', (e) => e.name)")
    assert result == "TypeError"  # the bare name no longer resolves: the map never applied
    assert any(re.search("Content Security Policy", e) for e in console.errors)


# --- file drop (docs/format.md, "File drop") ------------------------------------------

DROP_SNIPPET = """
const v = arg.drop, top = arg.top, epoch = v.epoch;
const ak = b64d(v.album_key, 32), wrapKey = c.linkKeys(b64d(top.link_secret, 32)).wrapKey;
const made = c.newDropKey(ak, top.album_id, epoch, b64d(v.seed, 32), b64d(v.sealed_secret.nonce, 24));
const linkSealed = c.sealLinkDropKey(wrapKey, made.publicKey, top.link_id, top.album_id, epoch, b64d(v.link_drop_key.nonce, 24));
const sealed = b64d(v.drop_file_key.sealed);
const open = (s, albumId = top.album_id, fileId = top.file_id, pk = made.publicKey, sk = made.secretKey) =>
  c.openDropFileKey(s, albumId, fileId, pk, sk);
const flipped = sealed.slice(); flipped[70] ^= 1;
const other = c.newDropKey(ak, top.album_id, epoch);
const fresh = c.sealDropFileKey(b64d(top.file_key, 32), top.album_id, top.file_id, made.publicKey);
const label = new TextEncoder().encode('fragment/v1/member-album-key\\0');
const inside = [...label, ...b64d(top.album_id), ...b64d(top.file_id), ...b64d(top.file_key)];
const forged = c.boxSeal(new Uint8Array(inside), made.publicKey);
return {
  bytes: c.DROP_FILE_KEY_BYTES,
  publicKey: b64e(made.publicKey), secretKey: b64e(made.secretKey), sealedSecret: b64e(made.sealedSecret),
  secretOpens: b64e(c.openDropSecret(ak, top.album_id, epoch, made.sealedSecret)),
  derived: b64e(c.dropPublicKey(made.secretKey)),
  linkSealed: b64e(linkSealed),
  linkOpens: b64e(c.openLinkDropKey(wrapKey, b64d(v.link_drop_key.sealed), top.link_id, top.album_id, epoch)),
  fileKey: b64e(open(sealed)),
  fresh: [fresh.length, b64e(open(fresh))],
  refused: [
    fails(() => c.openDropSecret(ak, top.album_id, epoch + 1, made.sealedSecret)),
    fails(() => c.openLinkDropKey(wrapKey, linkSealed, c.newId(), top.album_id, epoch)),
    fails(() => c.openLinkDropKey(wrapKey, linkSealed, top.link_id, c.newId(), epoch)),
    fails(() => open(sealed, top.album_id, c.newId())),
    fails(() => open(sealed, c.newId())),
    fails(() => open(flipped)),
    fails(() => open(sealed.slice(0, 137))),
    fails(() => open(sealed, top.album_id, top.file_id, other.publicKey, other.secretKey)),
    fails(() => open(forged)),
  ],
  formats: [
    fails(() => c.newDropKey(ak, top.album_id, -1)),
    fails(() => c.sealDropFileKey(b64d(top.file_key, 32), top.album_id, top.file_id, new Uint8Array(31))),
  ],
};
"""


def test_crypto_js_reproduces_and_opens_the_drop_vectors(js):
    """The "drop" vectors in the browser: the key pair from its seed and both sealed values byte for byte, the
    dropped file key (made in Python) opened, a fresh one opened by crypto.py; every other place refused."""
    v, top = VECTORS["drop"], VECTORS["inputs"]
    out = js.run(DROP_SNIPPET, {"drop": v, "top": top})
    assert out["bytes"] == crypto.DROP_FILE_KEY_BYTES == 138
    made = (out["publicKey"], out["secretKey"], out["sealedSecret"])
    assert made == (v["public_key"], v["secret_key"], v["sealed_secret"]["sealed"])
    assert out["secretOpens"] == v["secret_key"] and out["derived"] == v["public_key"]
    assert out["linkSealed"] == v["link_drop_key"]["sealed"] and out["linkOpens"] == v["public_key"]
    assert out["fileKey"] == top["file_key"] and out["fresh"] == [138, top["file_key"]]
    assert out["refused"] == ["DecryptionError"] * 9
    assert out["formats"] == ["FormatError"] * 2


def test_a_drop_sealed_in_the_browser_opens_in_python(js):
    """The other direction: a file key sealed by crypto.js to a key pair made by crypto.py opens with crypto.py."""
    ak, album_id, file_id, fk = crypto.random_key(), crypto.new_id(), crypto.new_id(), crypto.random_key()
    made = crypto.new_drop_key(ak, album_id, 0)
    sealed = js.run(
        "return b64e(c.sealDropFileKey(b64d(arg.fk, 32), arg.album, arg.file, b64d(arg.pk, 32)));",
        {"fk": b64(fk), "album": album_id, "file": file_id, "pk": b64(made.public_key)},
    )
    assert crypto.open_drop_file_key(crypto.b64d(sealed), album_id, file_id, made.public_key, made.secret_key) == fk


# --- comments and reactions (docs/format.md, "Comments and reactions") --------------------------

NOTES = VECTORS["notes"]
NOTE_VECTORS = ("comment", "edit", "reaction")
MEMBER_IDENTITY_SEED = fixed(0x08, 32)  # the account vectors' identity, as tests/test_crypto.py

# What a snippet returns for a call: 'ok', the error's class, BadNote told apart from other decryption errors.
NOTE_PRELUDE = """
const v = arg.notes, albumId = arg.album_id, epoch = v.epoch, ak = b64d(v.album_key, 32);
const outcome = (f) => { try { f(); return 'ok'; } catch (e) {
  return e instanceof c.BadNote ? (e instanceof c.DecryptionError ? 'BadNote' : 'BadNote, not a DecryptionError') : name(e); } };
const member = a.identityKeypairs(b64d(arg.member_seed, 32)), guest = c.guestNoteKeys(b64d(v.guest_seed, 32));
const secretKeys = { [b64e(member.signPublicKey)]: member.signSecretKey, [b64e(guest.publicKey)]: guest.privateKey };
"""

NOTE_VECTOR_SNIPPET = """
const made = {}, opened = {};
for (const which of arg.which) {
  const e = v[which], pk = b64d(e.author_pk, 32);
  const out = c.sealNote(ak, albumId, e.note_id, epoch, e.version, pk, secretKeys[e.author_pk], e.note, b64d(e.nonce, 24));
  made[which] = { sealed: b64e(out.sealed), signature: b64e(out.signature) };
  opened[which] = c.openNote(ak, albumId, e.note_id, epoch, e.version, pk, b64d(e.sealed), b64d(e.signature));
}
return {
  comment_key: b64e(c.commentKey(ak)), member_sign_pk: b64e(member.signPublicKey), guest_pk: b64e(guest.publicKey),
  guest_secret_key_bytes: guest.privateKey.length, emoji: [...c.NOTE_EMOJI], made, opened,
};
"""


def test_crypto_js_reproduces_and_opens_the_note_vectors(js):
    """The "notes" vectors in the browser: the comment key, the member's and the guest's public keys, and the
    comment, its edit and the guest's reaction sealed and signed byte for byte from their nonces; each opens to
    its note with "v": 1, as crypto.py reads it."""
    out = js.run(NOTE_PRELUDE + NOTE_VECTOR_SNIPPET, _note_arg(which=NOTE_VECTORS))
    assert (out["comment_key"], out["member_sign_pk"], out["guest_pk"]) == (
        NOTES["comment_key"],
        NOTES["member_sign_pk"],
        NOTES["guest_pk"],
    )
    assert out["guest_secret_key_bytes"] == 64  # libsodium's seed ‖ public key
    assert out["emoji"] == list(crypto.NOTE_EMOJI) == ["❤️", "👍", "😂", "😮", "😢", "🎉"]
    for which in NOTE_VECTORS:
        e = NOTES[which]
        assert out["made"][which] == {"sealed": e["sealed"], "signature": e["signature"]}, which
        assert out["opened"][which] == {**e["note"], "v": 1}, which


def _note_arg(**extra) -> dict:
    return {"notes": NOTES, "album_id": VECTORS["inputs"]["album_id"], "member_seed": b64(MEMBER_IDENTITY_SEED), **extra}


def test_a_note_moved_altered_or_reattributed_is_bad_in_the_browser(js):
    """The member's comment from the vectors, opened in any other place (another author, version, epoch, note,
    album or album key) or with one byte of its ciphertext or signature changed, throws BadNote, a kind of
    DecryptionError: the page shows it as not genuine. A forger with the album key signs only as themselves."""
    out = js.run(
        NOTE_PRELUDE
        + """
        const e = v.comment, pk = b64d(e.author_pk, 32), sealed = b64d(e.sealed), signature = b64d(e.signature);
        const open = (over = {}) => outcome(() => { const o = { ak, albumId, noteId: e.note_id, epoch, version: e.version,
          pk, sealed, signature, ...over };
          return c.openNote(o.ak, o.albumId, o.noteId, o.epoch, o.version, o.pk, o.sealed, o.signature); });
        const flip = (bytes, at) => { const out = bytes.slice(); out[at] ^= 1; return out; };
        const forger = c.guestNoteKeys(c.randomKey());
        const forged = c.sealNote(ak, albumId, e.note_id, epoch, e.version, forger.publicKey, forger.privateKey, e.note);
        return {
          genuine: open(),
          refused: {
            author: open({ pk: guest.publicKey }),
            version: open({ version: 2 }),
            epoch: open({ epoch: 0 }),
            note: open({ noteId: v.reaction.note_id }),
            album: open({ albumId: c.newId() }),
            albumKey: open({ ak: c.randomKey() }),
            ciphertext: open({ sealed: flip(sealed, 40) }),
            nonce: open({ sealed: flip(sealed, 0) }),
            truncated: open({ sealed: sealed.subarray(0, sealed.length - 1) }),
            signature: open({ signature: flip(signature, 63) }),
            shortSignature: open({ signature: signature.subarray(0, 63) }),
            forgedAsMember: open({ sealed: forged.sealed, signature: forged.signature }),
          },
          forgerAsThemselves: outcome(() => c.openNote(ak, albumId, e.note_id, epoch, e.version, forger.publicKey,
            forged.sealed, forged.signature)),
        };
        """,
        _note_arg(),
    )
    assert out["genuine"] == "ok"
    assert out["refused"] == dict.fromkeys(out["refused"], "BadNote") and len(out["refused"]) == 12
    assert out["forgerAsThemselves"] == "ok"  # a guest key says only that someone with the album key wrote it


MALFORMED_NOTES: dict[str, dict[str, object]] = {
    "another kind": {"kind": "poll"},
    "empty text": {"text": ""},
    "4001 code points": {"text": "x" * 4001},
    "text not a string": {"text": 5},
    "no text": {"text": None},
    "on not an id": {"on": "not an id"},
    "reply_to not an id": {"reply_to": "x"},
    "empty name": {"name": ""},
    "81-character name": {"name": "🌅" * 81},
    "negative at": {"at": -1},
    "at a boolean": {"at": True},
    "at a string": {"at": "1"},
    "unknown emoji": {"kind": "reaction", "emoji": "🦄"},
    "heart without U+FE0F": {"kind": "reaction", "emoji": "\u2764"},
}
A_COMMENT: dict[str, object] = {"kind": "comment", "on": None, "reply_to": None, "text": "hello", "name": None, "at": 1}


def _signed_as_the_spec_says(album_key, album_id, note_id, epoch, version, sign_seed, plaintext: bytes):
    """A note built from format.md's formulas alone (so it can be malformed): (sealed, signature)."""
    from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt, crypto_sign_seed_keypair
    from nacl.signing import SigningKey

    pk, _ = crypto_sign_seed_keypair(sign_seed)
    binding = crypto.b64d(album_id) + crypto.b64d(note_id) + struct.pack(">II", epoch, version) + pk
    nonce = os.urandom(24)
    ck = crypto.kdf(album_key, 1, b"fragcmnt")
    ad = b"fragment/v1/note\x00" + binding
    sealed = nonce + crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, nonce, ck)
    signature = SigningKey(sign_seed).sign(b"fragment/v1/note-sig\x00" + binding + sealed).signature
    return sealed, signature


def test_malformed_notes_are_format_errors_in_the_browser_both_sealing_and_opening(js):
    """What crypto.py refuses crypto.js refuses, as a FormatError: sealing a note of another kind, without text,
    with 4001 code points, an unknown emoji (and the other fields of the wrong shape); and opening one that a
    writer following format.md's formulas sealed and signed anyway. A note that is not a v1 object is refused."""
    ak, album_id, note_id, seed = crypto.random_key(), crypto.new_id(), crypto.new_id(), os.urandom(32)
    cases = {label: {**A_COMMENT, **over} for label, over in MALFORMED_NOTES.items()}
    for note in cases.values():
        with pytest.raises(crypto.FormatError):  # the Python half agrees on every case
            crypto.seal_note(ak, album_id, note_id, 0, 1, *crypto.guest_note_keys(seed), note)
    sealed_anyway = {}
    for label, note in {**cases, "missing at": {k: v for k, v in A_COMMENT.items() if k != "at"}}.items():
        plaintext = json.dumps({**note, "v": 1}, ensure_ascii=False).encode()
        sealed, signature = _signed_as_the_spec_says(ak, album_id, note_id, 0, 1, seed, plaintext)
        sealed_anyway[label] = [b64(sealed), b64(signature)]
    for label, raw in {"v 2": {**A_COMMENT, "v": 2}, "a list": [A_COMMENT]}.items():
        sealed, signature = _signed_as_the_spec_says(ak, album_id, note_id, 0, 1, seed, json.dumps(raw).encode())
        sealed_anyway[label] = [b64(sealed), b64(signature)]
    well_formed = _signed_as_the_spec_says(ak, album_id, note_id, 0, 1, seed, json.dumps({**A_COMMENT, "v": 1}).encode())
    out = js.run(
        """const ak = b64d(arg.ak, 32), seed = b64d(arg.seed, 32), keys = c.guestNoteKeys(seed);
        const seal = (note) => fails(() => c.sealNote(ak, arg.album, arg.note, 0, 1, keys.publicKey, keys.privateKey, note));
        const open = ([s, sig]) => fails(() => c.openNote(ak, arg.album, arg.note, 0, 1, keys.publicKey, b64d(s), b64d(sig)));
        return {
          sealing: Object.fromEntries(Object.entries(arg.cases).map(([label, note]) => [label, seal(note)])),
          notObjects: [seal(null), seal([arg.cases['empty text']]), seal('hello')],
          opening: Object.fromEntries(Object.entries(arg.sealed).map(([label, pair]) => [label, open(pair)])),
          wellFormed: c.openNote(ak, arg.album, arg.note, 0, 1, keys.publicKey, b64d(arg.good[0]), b64d(arg.good[1])),
        };""",
        {
            "ak": b64(ak),
            "seed": b64(seed),
            "album": album_id,
            "note": note_id,
            "cases": cases,
            "sealed": sealed_anyway,
            "good": [b64(well_formed[0]), b64(well_formed[1])],
        },
    )
    assert out["sealing"] == dict.fromkeys(cases, "FormatError")
    assert out["notObjects"] == ["FormatError"] * 3
    assert out["opening"] == dict.fromkeys(sealed_anyway, "FormatError")
    assert out["wellFormed"] == {**A_COMMENT, "v": 1}  # the formulas above are the format: unpadded JSON opens too


def test_note_lengths_count_code_points_in_the_browser(js):
    """4000 emoji (8000 UTF-16 units) is a comment's longest text and an 80-emoji name a guest's longest name, in
    JS as in Python; one more of either is refused. The JS-sealed note opens in Python, byte for byte the text."""
    seed = os.urandom(32)
    pk = crypto.guest_note_keys(seed)[0]
    ak, album_id, note_id = crypto.random_key(), crypto.new_id(), crypto.new_id()
    out = js.run(
        """const ak = b64d(arg.ak, 32), keys = c.guestNoteKeys(b64d(arg.seed, 32));
        const note = (text, name) => ({ kind: 'comment', on: null, reply_to: null, text, name, at: 1764950400 });
        const seal = (n) => c.sealNote(ak, arg.album, arg.note, 5, 1, keys.publicKey, keys.privateKey, n);
        const longest = seal(note('🌅'.repeat(4000), '🌅'.repeat(80)));
        return {
          units: '🌅'.repeat(4000).length, limits: [c.MAX_NOTE_TEXT, c.MAX_GUEST_NAME],
          sealed: b64e(longest.sealed), signature: b64e(longest.signature),
          opens: c.openNote(ak, arg.album, arg.note, 5, 1, keys.publicKey, longest.sealed, longest.signature).text.length,
          tooLong: [fails(() => seal(note('🌅'.repeat(4001), null))), fails(() => seal(note('x', '🌅'.repeat(81))))],
        };""",
        {"ak": b64(ak), "seed": b64(seed), "album": album_id, "note": note_id},
    )
    assert out["units"] == 8000 and out["opens"] == 8000
    assert out["limits"] == [crypto.MAX_NOTE_TEXT, crypto.MAX_GUEST_NAME] == [4000, 80]
    assert out["tooLong"] == ["FormatError"] * 2
    opened = crypto.open_note(ak, album_id, note_id, 5, 1, pk, crypto.b64d(out["sealed"]), crypto.b64d(out["signature"]))
    assert opened["text"] == "🌅" * 4000 and opened["name"] == "🌅" * 80
    canonical = json.dumps(opened, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    assert len(crypto.b64d(out["sealed"])) == 24 + crypto.padme(len(canonical)) + 16  # padded as metadata is


def test_notes_cross_between_python_and_the_browser(js):
    """Python seals a member's reply (with a key it does not know, kept) and crypto.js opens it; crypto.js seals a
    guest's reaction from a seed and crypto.py opens it with the key it derives from the same seed. Neither opens
    the other's note at another version."""
    ak, album_id, note_id, reply_id = crypto.random_key(), crypto.new_id(), crypto.new_id(), crypto.new_id()
    member = crypto.identity_keypairs(os.urandom(32))
    reply = {
        "kind": "comment",
        "on": crypto.new_id(),
        "reply_to": reply_id,
        "text": "Oui ! <b>à demain</b>",
        "name": None,
        "at": 1764950999,
        "x-later": {"ü": [1, 2]},
    }
    sealed, signature = crypto.seal_note(ak, album_id, note_id, 7, 3, member.sign_public_key, member.sign_secret_key, reply)
    seed = os.urandom(32)
    out = js.run(
        """const ak = b64d(arg.ak, 32), pk = b64d(arg.pk, 32), s = b64d(arg.sealed), sig = b64d(arg.signature);
        const guest = c.guestNoteKeys(b64d(arg.seed, 32));
        const reaction = { kind: 'reaction', on: null, emoji: c.NOTE_EMOJI[5], name: 'Zoë', at: 1764951000 };
        const made = c.sealNote(ak, arg.album, arg.reactionId, 7, 1, guest.publicKey, guest.privateKey, reaction);
        return {
          opened: c.openNote(ak, arg.album, arg.note, 7, 3, pk, s, sig),
          olderVersion: fails(() => c.openNote(ak, arg.album, arg.note, 7, 2, pk, s, sig)),
          guestPk: b64e(guest.publicKey), sealed: b64e(made.sealed), signature: b64e(made.signature),
        };""",
        {
            "ak": b64(ak),
            "pk": b64(member.sign_public_key),
            "sealed": b64(sealed),
            "signature": b64(signature),
            "album": album_id,
            "note": note_id,
            "reactionId": reply_id,
            "seed": b64(seed),
        },
    )
    assert out["opened"] == {**reply, "v": 1}
    assert out["olderVersion"] == "DecryptionError"  # BadNote is one
    guest_pk, _ = crypto.guest_note_keys(seed)
    assert out["guestPk"] == b64(guest_pk)
    js_sealed, js_signature = crypto.b64d(out["sealed"]), crypto.b64d(out["signature"])
    opened = crypto.open_note(ak, album_id, reply_id, 7, 1, guest_pk, js_sealed, js_signature)
    assert opened == {"kind": "reaction", "on": None, "emoji": "🎉", "name": "Zoë", "at": 1764951000, "v": 1}
    with pytest.raises(crypto.BadNote):
        crypto.open_note(ak, album_id, reply_id, 7, 2, guest_pk, js_sealed, js_signature)


def test_a_guests_deletion_signed_by_crypto_js_verifies_in_python_for_that_note_and_version_only(js):
    """crypto.js signNoteDelete mirrors crypto.py sign_note_delete: the server's verify_note_delete accepts the
    browser's proof for exactly that album, note and version, and refuses it for any other or another key."""
    album_id, note_id, seed = crypto.new_id(), crypto.new_id(), os.urandom(32)
    out = js.run(
        """const keys = c.guestNoteKeys(b64d(arg.seed, 32));
        return {
          signature: b64e(c.signNoteDelete(arg.album, arg.note, 3, keys.privateKey)),
          badVersion: fails(() => c.signNoteDelete(arg.album, arg.note, 0, keys.privateKey)),
          badId: fails(() => c.signNoteDelete('not an id', arg.note, 1, keys.privateKey)),
        };""",
        {"album": album_id, "note": note_id, "seed": b64(seed)},
    )
    guest_pk, guest_sk = crypto.guest_note_keys(seed)
    signature = crypto.b64d(out["signature"])
    assert len(signature) == 64
    assert crypto.verify_note_delete(album_id, note_id, 3, guest_pk, signature)
    assert signature == crypto.sign_note_delete(album_id, note_id, 3, guest_sk)  # Ed25519 is deterministic
    assert not crypto.verify_note_delete(album_id, note_id, 2, guest_pk, signature)
    assert not crypto.verify_note_delete(album_id, crypto.new_id(), 3, guest_pk, signature)
    assert not crypto.verify_note_delete(crypto.new_id(), note_id, 3, guest_pk, signature)
    other_pk, _ = crypto.guest_note_keys(os.urandom(32))
    assert not crypto.verify_note_delete(album_id, note_id, 3, other_pk, signature)
    assert out["badVersion"] == "FormatError" and out["badId"] == "FormatError"
