// The password factor (Argon2id, docs/format.md "Password factor") in its own Worker.
//
// crypto_pwhash is one long synchronous call that takes 64 MiB by default: here it
// cannot freeze the page (which keeps its progress indicator moving) nor hold up the
// album Worker, which starts this one for each password and terminates it afterwards,
// which gives the memory back at once (WebAssembly memory never shrinks).

import { checkPasswordFloor, passwordFactor, ready } from "../core/crypto.js";
import { serve, transfer } from "../core/rpc.js";

serve({
  async passwordFactor({ password, params }) {
    // Parameters below the floor are refused before any hashing (WeakPasswordParams): the
    // album Worker checks them too, as soon as it has the link's info, and this is the last guard.
    checkPasswordFloor(params);
    await ready();
    const factor = Uint8Array.from(passwordFactor(password, params));
    return transfer(factor.buffer, [factor.buffer]);
  },
});
