"""Blob decryption in the browser: static/js/core/crypto.js against raw libsodium, in the same page.

Opens a page of the real app under gunicorn (the Procfile's web line), with its
real CSP, in Debian's Chromium, and imports the modules as the viewer does
(``/static/js/core/crypto.js``, and the libsodium.js build it uses), as
tests/test_browser_crypto.py does. On 64 MiB of random bytes it times:

* the baseline: libsodium.js's one-shot ``crypto_aead_xchacha20poly1305_ietf_decrypt``
  over the whole buffer (no chunks, one call into WebAssembly);
* ``decryptBlob`` (a blob held in memory: thumbnails and previews) and
  ``decryptBlobStream`` (a TransformStream fed 64 KiB pieces, as a fetch body
  arrives: originals and video), at several chunk sizes;
* thumbnail-sized blobs (18 KB, the size of bench/viewer_first_paint.py's), many
  times over, where the cost per call matters more than the cost per byte.

Every figure is the best of 7 rounds (the least disturbed by other load), in MB/s
of plaintext; the cases take turns, one round of each at a time. Every case's
output is first checked against the original bytes.
Run: .venv/bin/python -m bench.viewer_decrypt_throughput [--mib 64]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import common

CHUNK_SIZES = [16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024]
ROUNDS = 7
THUMB_BYTES = 18_000
THUMB_COUNT = 2000

# One async function: build every input, check every output once, then time every
# case once per round, all cases in turn (so that a disturbance hits one round of
# each, not all rounds of one), keeping each case's fastest round.
PAGE_JS = """
async ({ size, chunkSizes, rounds, thumbBytes, thumbCount }) => {
  const c = await import('/static/js/core/crypto.js');
  await c.ready();
  // The very module crypto.js imports (one URL, one module instance).
  const sodium = (await import('/vendor/libsodium-wrappers-sumo/dist/modules-sumo-esm/libsodium-wrappers.mjs')).default;
  await sodium.ready;
  const plain = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) crypto.getRandomValues(plain.subarray(at, at + 65536));
  const key = c.randomKey(), fileId = c.newId(), nonce = sodium.randombytes_buf(24);
  const same = (a, b) => {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i += 4093) if (a[i] !== b[i]) return false;
    return a[a.length - 1] === b[b.length - 1];
  };
  const PIECE = 64 * 1024;  // roughly what a fetch body hands over at a time
  const streamed = async (blob) => {
    let at = 0;
    const source = new ReadableStream({ pull(controller) {
      if (at >= blob.length) return controller.close();
      controller.enqueue(blob.subarray(at, at + PIECE)); at += PIECE;
    } }, { highWaterMark: 0 });
    const reader = source.pipeThrough(c.decryptBlobStream(key, fileId, 'original')).getReader();
    const parts = [];
    for (;;) { const { done, value } = await reader.read(); if (done) break; parts.push(value); }
    return parts;
  };
  const joined = (parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0)); let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  };
  const thumb = plain.subarray(0, thumbBytes);
  const sealedThumb = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(thumb, null, null, nonce, key);
  const thumbBlob = c.encryptBlob(key, fileId, 'thumb', thumb);
  const sealed = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plain, null, null, nonce, key);
  const cases = {
    raw: () => sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, sealed, null, nonce, key),
    rawThumbs: () => {
      let out;
      for (let i = 0; i < thumbCount; i++) {
        out = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, sealedThumb, null, nonce, key);
      }
      return out;
    },
    thumbs: () => {
      let out;
      for (let i = 0; i < thumbCount; i++) out = c.decryptBlob(key, fileId, 'thumb', thumbBlob);
      return out;
    },
  };
  const expect = { raw: plain, rawThumbs: thumb, thumbs: thumb };
  for (const chunkSize of chunkSizes) {
    const blob = c.encryptBlob(key, fileId, 'original', plain, { chunkSize });
    cases[`whole${chunkSize}`] = () => c.decryptBlob(key, fileId, 'original', blob);
    cases[`stream${chunkSize}`] = () => streamed(blob);
    expect[`whole${chunkSize}`] = expect[`stream${chunkSize}`] = plain;
  }
  for (const [name, run] of Object.entries(cases)) {
    let out = await run();
    if (Array.isArray(out)) out = joined(out);
    if (!same(out, expect[name])) throw new Error(`${name} gave other bytes`);
  }
  const best = {};
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of Object.entries(cases)) {
      const t = performance.now();
      await run();
      best[name] = Math.min(best[name] ?? Infinity, performance.now() - t);
    }
  }
  return { best, chunk: c.DEFAULT_CHUNK_SIZE, sodium: sodium.SODIUM_VERSION_STRING };
}
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=64)
    args = parser.parse_args(argv)
    size = args.mib * 1024 * 1024
    mb = size / 1e6
    with common.workdir("decrypt") as tmp, common.gunicorn(Path(tmp) / "data") as url, common.chromium() as browser:
        context = browser.new_context()
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.extend([m.text] if m.type == "error" else []))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{url}/")
        args_ = {"size": size, "chunkSizes": CHUNK_SIZES, "rounds": ROUNDS, "thumbBytes": THUMB_BYTES, "thumbCount": THUMB_COUNT}
        info = page.evaluate(PAGE_JS, args_)
        context.close()
    if errors:
        raise SystemExit(f"Error: the page logged errors: {errors}")
    print(
        f"Chromium, libsodium.js {info['sodium']}, {args.mib} MiB of random bytes, best of {ROUNDS}, "
        "on a page of the app under its CSP\n"
    )
    best = info["best"]
    raw = best["raw"]
    print("| what | decrypt MB/s | vs baseline |")
    print("|---|---:|---:|")
    print(f"| raw libsodium.js, one call over all {args.mib} MiB (baseline) | {mb / raw * 1000:.0f} | 1.00x |")
    for chunk in CHUNK_SIZES:
        whole, stream = best[f"whole{chunk}"], best[f"stream{chunk}"]
        default = " (default)" if chunk == info["chunk"] else ""
        print(
            f"| format v1, {chunk // 1024} KiB chunks{default}: `decryptBlob` / `decryptBlobStream` | "
            f"{mb / whole * 1000:.0f} / {mb / stream * 1000:.0f} | {raw / whole:.2f}x / {raw / stream:.2f}x |"
        )
    thumb_mb = THUMB_BYTES * THUMB_COUNT / 1e6
    per_blob = best["thumbs"] / THUMB_COUNT * 1000
    print(
        f"| {THUMB_BYTES // 1000} KB thumbnails: `decryptBlob`, {per_blob:.0f} µs each (baseline: one raw call each) | "
        f"{thumb_mb / best['thumbs'] * 1000:.0f} | {best['rawThumbs'] / best['thumbs']:.2f}x |"
    )


if __name__ == "__main__":
    main()
