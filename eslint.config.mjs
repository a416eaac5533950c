// ESLint flat config for the browser code (make lint-js). Each kind of script gets only the globals of
// the scope it runs in, so that a page-only name (document, window) used in a Worker is reported. The
// modules that pages and Workers share get the page's; tsc checks them under WebWorker too.
import js from "@eslint/js";
import globals from "globals";

const WORKERS = ["static/js/**/*-worker.js"];
const SERVICE_WORKER = ["static/js/download/sw.js"];

export default [
  {
    files: ["static/js/**/*.js"],
    ...js.configs.recommended,
    languageOptions: { ecmaVersion: "latest", sourceType: "module" },
    rules: {
      ...js.configs.recommended.rules,
      // The project's line length, as ruff's for the Python (pyproject.toml).
      "max-len": ["error", { code: 130 }],
    },
  },
  {
    // Pages, and the modules they share with Workers.
    files: ["static/js/**/*.js"],
    ignores: [...WORKERS, ...SERVICE_WORKER],
    languageOptions: { globals: globals.browser },
  },
  {
    // Dedicated module Workers (rpc.js's WorkerClient starts them).
    files: WORKERS,
    languageOptions: { globals: globals.worker },
  },
  {
    // The Service Worker (sw-client.js registers it).
    files: SERVICE_WORKER,
    languageOptions: { globals: globals.serviceworker },
  },
];
