"""Blob encryption throughput of format v1 in Python, against raw libsodium in the same run.

Prints one table: MB/s for encrypting and decrypting a blob with viewer/crypto.py
at several chunk sizes, next to one-shot XChaCha20-Poly1305 over the same bytes
(the ceiling: no chunking, no Python per chunk). Run: .venv/bin/python -m bench.blob_throughput
"""

from __future__ import annotations

import io
import os
import time

from nacl import bindings as sodium

from viewer import crypto

SIZE = 64 * 1024 * 1024
ROUNDS = 3


def best_of(fn) -> float:
    """Seconds of the fastest of ROUNDS runs (the least disturbed by other load)."""
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    data = os.urandom(SIZE)
    key, nonce, file_id = crypto.random_key(), os.urandom(24), crypto.new_id()
    mb = SIZE / 1e6
    raw_enc = best_of(lambda: sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(data, b"", nonce, key))
    sealed = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(data, b"", nonce, key)
    raw_dec = best_of(lambda: sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(sealed, b"", nonce, key))
    rows = [("raw libsodium, one shot (baseline)", mb / raw_enc, mb / raw_dec, 1.0, 1.0)]
    for chunk in (16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024):
        enc = best_of(lambda: b"".join(crypto.encrypt_blob(key, file_id, "original", io.BytesIO(data), chunk_size=chunk)))  # noqa: B023 - called in this iteration
        blob = b"".join(crypto.encrypt_blob(key, file_id, "original", io.BytesIO(data), chunk_size=chunk))
        dec = best_of(lambda: b"".join(crypto.decrypt_blob(key, file_id, "original", io.BytesIO(blob))))  # noqa: B023 - called in this iteration
        label = f"format v1 blob, {chunk // 1024} KiB chunks" + (" (default)" if chunk == crypto.DEFAULT_CHUNK_SIZE else "")
        rows.append((label, mb / enc, mb / dec, raw_enc / enc, raw_dec / dec))
    print(f"{SIZE // (1024 * 1024)} MiB of random bytes, best of {ROUNDS}\n")
    print("| what | encrypt MB/s | decrypt MB/s | encrypt vs baseline | decrypt vs baseline |")
    print("|---|---:|---:|---:|---:|")
    for label, enc, dec, enc_ratio, dec_ratio in rows:
        print(f"| {label} | {enc:.0f} | {dec:.0f} | {enc_ratio:.2f}x | {dec_ratio:.2f}x |")


if __name__ == "__main__":
    main()
