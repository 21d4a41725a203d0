// Settings: language, the volunteer's PIN, and signing out (which locks their data).

import { setPin, signOut } from "../accounts.js";
import { app, closeSession, go, notify, screen } from "../app.js";
import { element } from "../forms.js";
import { t } from "../i18n.js";

export function settingsScreen() {
  const pin = element("input", { id: "new-pin", type: "password", inputmode: "numeric", autocomplete: "off" });
  const pinError = element("div", { class: "message", role: "alert" });
  const savePin = element("button", { type: "submit", class: "primary", id: "save-pin", text: t("set_pin") });
  const pinForm = element(
    "form",
    { class: "stack" },
    element("div", { class: "field" }, element("label", { for: "new-pin", text: t("set_pin") }), pin),
    element("p", { class: "hint", text: t("pin_hint") }),
    pinError,
    savePin,
  );
  pinForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    pinError.textContent = "";
    if (await setPin(app.account.name, pin.value)) {
      pin.value = "";
      notify(t("pin_saved"));
      go("#/home");
    } else {
      pinError.textContent = t("pin_invalid");
    }
  });
  const out = element("button", { type: "button", class: "danger", id: "sign-out", text: t("sign_out") });
  out.addEventListener("click", async () => {
    await signOut();
    closeSession();
    go("#/unlock");
  });
  const back = element("button", { type: "button", text: t("back") });
  back.addEventListener("click", () => go("#/home"));
  screen().replaceChildren(element("h2", { text: t("settings") }), pinForm, element("hr"), out, back);
}
