// What every screen shares: the schema description and validator, the unlocked
// volunteer's store and sync, the bar, notices and navigation.

import { currentAccount } from "./accounts.js";
import { element } from "./forms.js";
import { getLang, setLang, t } from "./i18n.js";
import { LocalStore } from "./store.js";
import { SyncScheduler } from "./sync.js";

export const app = {
  description: null,
  validator: null,
  account: null,
  store: null,
  scheduler: null,
  sync: { state: "idle" },
  listeners: new Set(),
  beforeLeave: null, // set by a screen holding unsaved input (the form's draft)
};

export function screen() {
  return document.getElementById("screen");
}

export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}

let noticeTimer = null;
/** A short message under the bar (saved, sync done, offline...). */
export function notify(text, seconds = 6) {
  const box = document.getElementById("notice");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => {
    box.hidden = true;
  }, seconds * 1000);
}

/** The unlocked volunteer's store and sync, opened once per unlock. */
export function openSession() {
  const account = currentAccount();
  if (!account) return null;
  if (app.account?.name !== account.name) {
    app.scheduler?.stop();
    app.account = account;
    app.store = new LocalStore(account.name);
    app.scheduler = new SyncScheduler(app.store, (event) => {
      app.sync = event;
      for (const listener of app.listeners) listener(event);
    });
  }
  return app.store;
}

export function closeSession() {
  app.scheduler?.stop();
  app.account = null;
  app.store = null;
  app.scheduler = null;
  app.listeners.clear();
}

/** Words for a sync event, for the status line and notices. */
export function syncText(event) {
  if (event.state === "syncing") {
    return event.phase === "pull" ? t("sync_receiving", { n: event.received }) : t("sync_sending", { n: event.sent });
  }
  if (event.state === "done") return t("sync_done", event.summary);
  if (event.state === "failed") {
    if (event.kind === "offline") return t("sync_offline");
    if (event.kind === "signin") return t("sync_signin");
    return t("sync_failed", { reason: event.reason, seconds: event.seconds });
  }
  return "";
}

/** The bar's buttons: language always; sync, settings and lock once unlocked. */
export function renderBar(render) {
  document.getElementById("title").textContent = app.account
    ? `${t("app_title")} · ${app.account.displayName ?? app.account.name}`
    : t("app_title");
  const actions = document.getElementById("bar-actions");
  const language = element("button", { type: "button", id: "language", text: t("language") });
  language.addEventListener("click", () => {
    setLang(getLang() === "en" ? "zh" : "en");
    render();
  });
  const buttons = [language];
  if (app.account) {
    const settings = element("button", { type: "button", id: "open-settings", text: t("settings") });
    settings.addEventListener("click", () => go("#/settings"));
    buttons.push(settings);
  }
  actions.replaceChildren(...buttons);
}
