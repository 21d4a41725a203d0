// Home: sync status and "Sync now", a button per record type, and "my records".

import { SignInError, signIn } from "../accounts.js";
import { app, go, screen, syncText } from "../app.js";
import { element } from "../forms.js";
import { label, t } from "../i18n.js";
import { myRecords } from "../records.js";
import { RECORD_TYPES } from "../store.js";
import { startRecord } from "./form.js";

const PAGE = 30; // a few screens' worth; "Show more" adds as many

/** A line that tells one record from another in the list. */
export function recordTitle(doc) {
  const when = doc.started_at ?? doc.visited_at ?? doc.found_on ?? doc.created_at ?? "";
  const detail = doc.zone ?? doc.household_no ?? doc.terrain ?? "";
  return `${String(when).slice(0, 16).replace("T", " ")} ${detail}`.trim();
}

function stateBadge(state) {
  return element("span", { class: `state state-${state}`, "data-state": state, text: t(`state_${state}`) });
}

export async function homeScreen() {
  const store = app.store;
  const status = element("p", { id: "sync-status" });
  const progress = element("progress", { class: "progress", hidden: true });
  const syncButton = element("button", { type: "button", class: "primary", id: "sync-now", text: t("sync_now") });
  syncButton.addEventListener("click", () => app.scheduler.now());
  const counts = element("p", { id: "counts" });
  // An expired session (weeks offline): the password once more, then the sync goes on.
  const password = element("input", { id: "resign-password", type: "password", autocomplete: "current-password" });
  const resignError = element("div", { class: "message", role: "alert" });
  const resign = element(
    "form",
    { class: "stack", id: "sign-in-again", hidden: true },
    element("label", { for: "resign-password", text: t("password") }),
    password,
    resignError,
    element("button", { type: "submit", class: "primary", text: t("sign_in_and_sync") }),
  );
  resign.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await signIn(app.account.name, password.value);
      password.value = "";
      resign.hidden = true;
      app.scheduler.now();
    } catch (caught) {
      resignError.textContent = t(caught instanceof SignInError && caught.reason === "offline" ? "sign_in_offline" : "sign_in_failed");
    }
  });
  const actions = element("div", { class: "big-actions" });
  for (const type of RECORD_TYPES) {
    const button = element("button", { type: "button", "data-new": type, text: `＋ ${label(app.description.types[type])}` });
    button.addEventListener("click", () => startRecord(type));
    actions.append(button);
  }
  const list = element("ul", { class: "records", id: "records" });
  const more = element("button", { type: "button", id: "more", text: t("more"), hidden: true });
  let limit = PAGE;

  const showSync = async () => {
    syncButton.disabled = app.sync?.state === "syncing";
    const state = await store.syncState();
    // The latest step, not the one that called: steps come faster than this reads.
    const event = app.sync;
    const last = state.last_sync ? t("last_sync", { when: new Date(state.last_sync).toLocaleString() }) : t("never_synced");
    const busy = event && event.state !== "idle";
    status.textContent = busy ? (event.state === "done" ? `${syncText(event)} ${last}` : syncText(event)) : last;
    progress.hidden = event?.state !== "syncing";
    resign.hidden = !(event?.state === "failed" && event.kind === "signin");
    syncButton.disabled = event?.state === "syncing";
    // What a test waits on: which sync this line speaks of, and how it ended.
    status.dataset.syncs = String(app.scheduler?.started ?? 0);
    status.dataset.state = event?.state ?? "idle";
  };
  const showList = async () => {
    const { rows, more: hasMore, unsent, refused } = await myRecords(store, limit);
    // "Every record is sent" only when none waits and none needs correcting.
    const lines = [];
    if (unsent) lines.push(t("unsent_count", { n: unsent }));
    if (refused) lines.push(t("refused_count", { n: refused }));
    if (!lines.length) lines.push(t("all_sent"));
    counts.textContent = lines.join(" · ");
    list.replaceChildren();
    if (rows.length === 0) list.append(element("li", { class: "hint", text: t("no_records") }));
    for (const row of rows) {
      const item = element(
        "li",
        { "data-id": row.doc._id, "data-state": row.state },
        element(
          "div",
          {},
          element("div", { text: label(app.description.types[row.doc.type]) }),
          element("div", { class: "when", text: recordTitle(row.doc) }),
        ),
        stateBadge(row.state),
      );
      item.addEventListener("click", () => go(row.draftId ? `#/form/${row.draftId}` : `#/record/${row.doc._id}`));
      list.append(item);
    }
    more.hidden = !hasMore;
  };
  more.addEventListener("click", () => {
    limit += PAGE;
    showList();
  });
  const listener = (event) => {
    showSync(event);
    if (event.state === "done" || event.state === "failed") showList();
  };
  app.listeners.clear();
  app.listeners.add(listener);

  const profile = await store.profile();
  const warning = profile ? null : element("p", { class: "summary", id: "needs-sync", text: t("first_sync_needed") });
  screen().replaceChildren(
    ...[warning].filter(Boolean),
    element("section", { class: "stack" }, status, progress, resign, counts, syncButton),
    element("h2", { text: t("new_record") }),
    actions,
    element("h2", { text: t("my_records") }),
    list,
    more,
  );
  for (const button of actions.querySelectorAll("button")) button.disabled = !profile;
  await Promise.all([showSync(app.sync), showList()]);
}
