// Argon2id for the owner's web app, in a Worker of its own (as album/keys-worker.js for links).
//
// crypto_pwhash is one long synchronous call (64 MiB by default): here it does not freeze
// the page, which keeps saying what it is doing. The page starts one Worker per derivation
// and terminates it afterwards, which gives the WebAssembly memory back at once.

import { changePassword, checkAccountParams, accountKeys, newAccount } from "../core/account.js";
import { checkPasswordFloor, passwordFactor, ready } from "../core/crypto.js";
import { serve } from "../core/rpc.js";

serve({
  /** kek and loginKey of a password, for parameters the server sent (checked against the floor first). */
  async accountKeys({ password, params }) {
    checkAccountParams(params);
    await ready();
    return accountKeys(password, params);
  },

  /** Everything a sign-up makes (docs/format.md, "Sign-up"). */
  async newAccount({ password }) {
    await ready();
    return newAccount(password);
  },

  /** A new password for an open master key. */
  async changePassword({ masterKey, accountId, password }) {
    await ready();
    return changePassword(masterKey, accountId, password);
  },

  /** A link password's factor (docs/format.md, "Password factor"). */
  async passwordFactor({ password, params }) {
    checkPasswordFloor(params);
    await ready();
    return passwordFactor(password, params);
  },
});
