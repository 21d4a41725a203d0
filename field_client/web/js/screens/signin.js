// Sign in (online, once) and unlock (offline, with the password or a PIN).

import { SignInError, currentAccount, rememberProfile, signIn, tabletAccounts, unlock } from "../accounts.js";
import { app, go, notify, openSession, screen, syncText } from "../app.js";
import { element } from "../forms.js";
import { t } from "../i18n.js";

const SIGN_IN_ERRORS = { offline: "sign_in_offline", wrong: "sign_in_failed", throttled: "sign_in_throttled" };

export function signInScreen() {
  const name = element("input", { id: "username", type: "text", autocomplete: "username", autocapitalize: "none" });
  const password = element("input", { id: "password", type: "password", autocomplete: "current-password" });
  const error = element("div", { class: "message", id: "signin-error", role: "alert" });
  const button = element("button", { type: "submit", class: "primary", id: "sign-in", text: t("sign_in") });
  const form = element(
    "form",
    { class: "stack" },
    element("h2", { text: t("sign_in_title") }),
    element("div", { class: "field" }, element("label", { for: "username", text: t("username") }), name),
    element("div", { class: "field" }, element("label", { for: "password", text: t("password") }), password),
    error,
    button,
  );
  if (tabletAccounts().length) {
    const back = element("button", { type: "button", text: t("unlock_title") });
    back.addEventListener("click", () => go("#/unlock"));
    form.append(back);
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    error.textContent = "";
    try {
      await signIn(name.value.trim(), password.value);
      password.value = "";
      const store = openSession();
      notify(t("downloading"), 30);
      // The first sync brings the volunteer's own user document, roster and households.
      const summary = await app.scheduler.now();
      const profile = await store.profile();
      if (profile) await rememberProfile(app.account.name, profile);
      app.account = currentAccount();
      notify(syncText(app.sync), summary ? 4 : 10);
      go("#/home");
    } catch (caught) {
      const key = caught instanceof SignInError ? (SIGN_IN_ERRORS[caught.reason] ?? "sign_in_failed") : "sign_in_failed";
      error.textContent = t(key);
    } finally {
      button.disabled = false;
    }
  });
  screen().replaceChildren(form);
}

export function unlockScreen() {
  const accounts = tabletAccounts();
  if (accounts.length === 0) return go("#/signin");
  const list = element("div", { class: "accounts", role: "list" });
  const secret = element("input", { id: "secret", type: "password", inputmode: "text", autocomplete: "off" });
  const error = element("div", { class: "message", id: "unlock-error", role: "alert" });
  const chosenLabel = element("p", { id: "unlock-who" });
  const button = element("button", { type: "submit", class: "primary", id: "unlock", text: t("unlock") });
  const form = element(
    "form",
    { class: "stack", hidden: true },
    chosenLabel,
    element("div", { class: "field" }, element("label", { for: "secret", text: t("pin_or_password") }), secret),
    error,
    button,
  );
  let chosen = null;
  for (const account of accounts) {
    const pick = element("button", {
      type: "button",
      "data-account": account.name,
      text: `${account.displayName ?? account.name} (${account.name})`,
    });
    pick.addEventListener("click", () => {
      chosen = account.name;
      chosenLabel.textContent = pick.textContent;
      form.hidden = false;
      secret.focus();
    });
    list.append(pick);
  }
  if (accounts.length === 1) list.firstChild.click();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    const outcome = await unlock(chosen, secret.value);
    button.disabled = false;
    secret.value = "";
    if (!outcome.ok) {
      error.textContent = t(outcome.reason === "pin_locked" ? "pin_locked" : "unlock_failed");
      return;
    }
    openSession();
    go("#/home");
  });
  const other = element("button", { type: "button", id: "other-account", text: t("other_account") });
  other.addEventListener("click", () => go("#/signin"));
  screen().replaceChildren(element("h2", { text: t("unlock_title") }), list, form, other);
  return null;
}
