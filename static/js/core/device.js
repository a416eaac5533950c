// This browser's device key for a link: an Ed25519 key pair that WebCrypto made with
// a private key that cannot be exported, kept in IndexedDB (docs/format.md, "Device key").
//
// A link with a device limit counts browsers, not tokens: each unlock signs the
// server's challenge with this key, and a copied token or a copied database record
// admits nobody, because the private key's bytes never exist outside the browser's
// key store. extractable: false makes exportKey and wrapKey throw (W3C Web
// Cryptography API, "exportKey": "If the [[extractable]] internal slot of key is
// false, then throw an InvalidAccessError"), and IndexedDB stores the CryptoKey by
// structured clone, which keeps that slot (MDN, "CryptoKey": "CryptoKey objects can be
// stored using the structured clone algorithm"). Ed25519 in WebCrypto: Chrome 137,
// Firefox 129, Safari 17 (MDN, "SubtleCrypto.generateKey", browser compatibility).
//
// No DOM: the page uses it (is a key there? forget it) and the album Worker signs
// with it; both see the same IndexedDB, which belongs to the origin.

const DB_NAME = "fragment";
const DB_VERSION = 1;
const STORE = "devices"; // key: link_id; value: {privateKey, publicKey, admitted}
const ALGORITHM = { name: "Ed25519" };

/** This browser cannot make or keep a device key (no Ed25519 in WebCrypto, or no IndexedDB). */
export class DeviceKeyUnavailable extends Error {
  constructor(message) {
    super(message);
    this.name = "DeviceKeyUnavailable";
  }
}

const NO_ED25519 =
  "This browser cannot make the device key this link needs (Ed25519 in WebCrypto). " +
  "Open the link in a current version of Chrome, Edge, Firefox or Safari.";
const NO_STORAGE =
  "This browser cannot keep the device key this link needs (its site storage is off or full). " +
  "Allow this site to store data, or open the link in another browser.";

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

let opening = null;

function database() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      if (typeof indexedDB === "undefined") throw new DeviceKeyUnavailable(NO_STORAGE);
      const req = indexedDB.open(DB_NAME, DB_VERSION);
      req.onupgradeneeded = () => {
        if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE);
      };
      req.onsuccess = () => {
        const db = req.result;
        // Another tab that upgrades the database (a later version of this file) gets it.
        db.onversionchange = () => {
          db.close();
          opening = null;
        };
        resolve(db);
      };
      req.onerror = () => reject(new DeviceKeyUnavailable(NO_STORAGE));
      req.onblocked = () => reject(new DeviceKeyUnavailable(NO_STORAGE));
    }).catch((error) => {
      opening = null;
      throw error instanceof DeviceKeyUnavailable ? error : new DeviceKeyUnavailable(NO_STORAGE);
    });
  }
  return opening;
}

/** Run `body(store)` in one transaction and resolve with its result once the transaction commits. */
async function withStore(mode, body) {
  const db = await database();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    let result;
    tx.oncomplete = () => resolve(result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new DeviceKeyUnavailable(NO_STORAGE));
    Promise.resolve(body(tx.objectStore(STORE))).then(
      (value) => {
        result = value;
      },
      (error) => {
        try {
          tx.abort();
        } catch {
          // already finished
        }
        reject(error);
      },
    );
  });
}

async function record(linkId) {
  return (await withStore("readonly", (store) => request(store.get(linkId)))) || null;
}

/** True if this browser has a device key for the link. */
export async function hasDeviceKey(linkId) {
  try {
    return Boolean(await record(linkId));
  } catch {
    return false;
  }
}

/** True if this browser's key for the link was admitted by the server (it holds a device slot). */
export async function isAdmitted(linkId) {
  try {
    const found = await record(linkId);
    return Boolean(found && found.admitted);
  } catch {
    return false;
  }
}

/** @returns {Promise<CryptoKeyPair>} */
async function generate() {
  if (typeof crypto === "undefined" || !crypto.subtle) throw new DeviceKeyUnavailable(NO_ED25519);
  try {
    // false: the private key can sign but never be exported (the public key always can).
    return /** @type {CryptoKeyPair} */ (await crypto.subtle.generateKey(ALGORITHM, false, ["sign", "verify"]));
  } catch {
    throw new DeviceKeyUnavailable(NO_ED25519);
  }
}

/**
 * The link's key pair, made on first use. Two tabs making one at once keep the same
 * one: the new pair is stored only if none is there, inside one readwrite
 * transaction, and IndexedDB runs readwrite transactions on a store one at a time
 * (W3C Indexed Database API 3.0, "Transaction scheduling").
 */
async function keyPair(linkId) {
  const found = await record(linkId);
  if (found) return found;
  const fresh = await generate();
  return withStore("readwrite", (store) =>
    new Promise((resolve, reject) => {
      const get = store.get(linkId);
      get.onerror = () => reject(get.error);
      get.onsuccess = () => {
        if (get.result) return resolve(get.result);
        const entry = { privateKey: fresh.privateKey, publicKey: fresh.publicKey, admitted: false };
        const put = store.put(entry, linkId);
        put.onerror = () => reject(put.error);
        put.onsuccess = () => resolve(entry);
      };
    }),
  );
}

/** {publicKey: raw 32 bytes, signature: 64 bytes} of `message` signed with this browser's key for the link. */
export async function signWithDeviceKey(linkId, message) {
  const pair = await keyPair(linkId);
  try {
    const [raw, signature] = await Promise.all([
      crypto.subtle.exportKey("raw", pair.publicKey),
      crypto.subtle.sign(ALGORITHM, pair.privateKey, message),
    ]);
    return { publicKey: new Uint8Array(raw), signature: new Uint8Array(signature) };
  } catch {
    throw new DeviceKeyUnavailable(NO_ED25519);
  }
}

/** Remember that the server admitted this browser's key for the link. */
export async function markAdmitted(linkId) {
  await withStore("readwrite", (store) =>
    request(store.get(linkId)).then((found) => {
      if (found && !found.admitted) return request(store.put({ ...found, admitted: true }, linkId));
      return null;
    }),
  );
}

/** Delete this browser's key for the link (Forget this album): opening it again is a new device. */
export async function forgetDeviceKey(linkId) {
  await withStore("readwrite", (store) => request(store.delete(linkId)));
}
