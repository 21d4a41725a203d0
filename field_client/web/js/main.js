// The tablet app's entry: load the schemas (cached by the service worker, so this
// works offline), then show the screen the address names.

import { currentAccount, restoreAccounts } from "./accounts.js";
import { app, closeSession, openSession, renderBar, screen } from "./app.js";
import { element } from "./forms.js";
import { getLang, setLang, t } from "./i18n.js";
import { createValidator } from "./validator.js";
import { formScreen } from "./screens/form.js";
import { homeScreen } from "./screens/home.js";
import { recordScreen } from "./screens/record.js";
import { settingsScreen } from "./screens/settings.js";
import { signInScreen, unlockScreen } from "./screens/signin.js";

const UNLOCKED = {
  home: () => homeScreen(),
  form: (id) => formScreen(id),
  record: (id) => recordScreen(id),
  settings: () => settingsScreen(),
};

let renders = 0;

async function route() {
  await show();
  // Tests (and screen readers' users) can tell a screen was drawn again.
  renders += 1;
  document.body.dataset.renders = String(renders);
}

async function show() {
  const leaving = app.beforeLeave;
  app.beforeLeave = null;
  if (leaving) await leaving();
  const [name, ...rest] = location.hash.replace(/^#\/?/u, "").split("/");
  const argument = decodeURIComponent(rest.join("/"));
  if (!currentAccount()) {
    closeSession();
    renderBar(route);
    return name === "signin" ? signInScreen() : unlockScreen();
  }
  openSession();
  renderBar(route);
  if (name === "signin") return signInScreen();
  const show = UNLOCKED[name] ?? UNLOCKED.home;
  return show(argument);
}

function offerUpdate(registration) {
  const box = document.getElementById("update");
  const button = element("button", { type: "button", class: "primary small", id: "update-now", text: t("update_now") });
  button.addEventListener("click", () => registration.waiting?.postMessage("take-over"));
  box.replaceChildren(element("span", { text: t("update_ready") }), button);
  box.hidden = false;
}

async function registerWorker() {
  if (!("serviceWorker" in navigator)) return;
  const registration = await navigator.serviceWorker.register("sw.js", { scope: "/app/" });
  // A new version waits until the volunteer chooses to switch: never mid-entry.
  if (registration.waiting && navigator.serviceWorker.controller) offerUpdate(registration);
  registration.addEventListener("updatefound", () => {
    const worker = registration.installing;
    worker?.addEventListener("statechange", () => {
      if (worker.state === "installed" && navigator.serviceWorker.controller) offerUpdate(registration);
    });
  });
  let reloading = false;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (!reloading && document.getElementById("update").hidden === false) {
      reloading = true;
      location.reload();
    }
  });
}

async function start() {
  setLang(getLang());
  await restoreAccounts();
  const response = await fetch("schemas.json");
  app.description = await response.json();
  app.validator = createValidator(app.description);
  window.addEventListener("hashchange", () => route().catch(showFailure));
  await route();
  document.body.dataset.ready = "true";
  if (app.account && navigator.onLine) app.scheduler.soon(1);
  registerWorker().catch(() => {});
}

function showFailure(error) {
  screen().replaceChildren(element("p", { class: "summary", text: String(error?.message ?? error) }));
  console.error(error);
}

start().catch(showFailure);
