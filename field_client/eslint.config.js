// ESLint for the tablet app (`npm run lint`; ./dev test runs it).
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["web/vendor/**", "node_modules/**"] },
  js.configs.recommended,
  {
    files: ["web/js/**/*.js"],
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: "module",
      globals: { ...globals.browser, PouchDB: "readonly" },
    },
    rules: { "no-control-regex": "off", "no-unused-vars": ["error", { varsIgnorePattern: "^_" }] },
  },
  {
    files: ["web/sw.js"],
    languageOptions: { ecmaVersion: 2024, sourceType: "script", globals: globals.serviceworker },
  },
];
