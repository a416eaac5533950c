// ESLint flat config for the browser code (make lint-js). Each kind of script gets the globals of the
// scope it runs in, so that a page-only name (document, window) used in a Worker is reported.
import js from "@eslint/js";
import globals from "globals";

export default [
  {
    files: ["static/js/**/*.js"],
    ...js.configs.recommended,
    languageOptions: {
      ecmaVersion: "latest",
      sourceType: "module",
      globals: globals.browser,
    },
  },
  {
    // Dedicated module Workers (rpc.js's WorkerClient starts them).
    files: ["static/js/*-worker.js"],
    languageOptions: { globals: globals.worker },
  },
  {
    // The Service Worker (sw-client.js registers it).
    files: ["static/js/sw.js"],
    languageOptions: { globals: globals.serviceworker },
  },
];
