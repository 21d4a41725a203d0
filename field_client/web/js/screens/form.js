// Entering a record: a draft from the first keystroke (saved as the volunteer types,
// in a database that never replicates), checked by the exported rules as they go,
// saved as a record only when the whole of it passes.

import { app, go, notify, screen } from "../app.js";
import { element, nowIso, recordForm, todayIso } from "../forms.js";
import { deviceId, newDocId } from "../ids.js";
import { label, t } from "../i18n.js";
import { MAX_PHOTOS, PhotoError, scalePhoto } from "../photos.js";
import { noticesByDoc } from "../records.js";
import { flattenErrors } from "../validator.js";

const AUTOSAVE_MS = 400;
// What a new record starts with, beyond the envelope.
const STARTING_VALUES = {
  patrol: (me) => ({ participants: [me], started_at: nowIso() }),
  home_visit: (me) => ({ volunteers: [me], visited_at: nowIso() }),
  water_source: () => ({ found_on: todayIso() }),
  household: () => ({}),
};

const draftIdOf = (recordId) => `draft:${recordId}`;

async function context() {
  const store = app.store;
  const profile = await store.profile();
  const [users, households, places] = await Promise.all([
    store.ofType("user"),
    store.ofType("household"),
    store.ofType("place"),
  ]);
  const sameUnit = (user) =>
    user.active !== false &&
    (user._id === profile._id ||
      (profile.team && user.team === profile.team) ||
      (profile.station && user.station === profile.station));
  return {
    description: app.description,
    profile,
    roster: users.filter(sameUnit).sort((a, b) => a.display_name.localeCompare(b.display_name, "zh")),
    households: households.filter((household) => !household._deleted),
    places,
  };
}

function envelope(type, profile) {
  const now = nowIso();
  const doc = {
    _id: newDocId(type),
    type,
    schema_version: app.description.types[type].version,
    place: ["village", "grid"].includes(levelOf(profile.scope)) ? profile.scope : undefined,
    station: profile.station ?? undefined,
    team: profile.team ?? undefined,
    author: profile._id,
    device: deviceId(),
    created_at: now,
    updated_at: now,
  };
  return Object.fromEntries(Object.entries(doc).filter(([, value]) => value !== undefined));
}

function levelOf(code) {
  return app.description.places.levels[String(code?.length)];
}

/** Begin a new record of `type` (a draft) and open its form. */
export async function startRecord(type, { returnTo = null } = {}) {
  const profile = await app.store.profile();
  const doc = { ...envelope(type, profile), ...STARTING_VALUES[type](profile._id) };
  const id = draftIdOf(doc._id);
  await app.store.saveDraft({ _id: id, doc, returnTo, isNew: true });
  go(`#/form/${id}`);
}

/** Open a saved record for editing (a draft of it; the record stays as it was until saved). */
export async function editRecord(recordId) {
  const id = draftIdOf(recordId);
  if (!(await app.store.draft(id))) {
    const saved = await app.store.db.get(recordId, { attachments: true, binary: true });
    await app.store.saveDraft({
      _id: id,
      doc: Object.fromEntries(Object.entries(saved).filter(([key]) => key !== "_attachments")),
      isNew: false,
      _attachments: saved._attachments,
    });
  }
  go(`#/form/${id}`);
}

function photoSection(photos, onChange) {
  const box = element("div", { class: "photos", id: "photos" });
  const message = element("div", { class: "message", id: "photo-message", role: "alert" });
  const input = element("input", {
    type: "file",
    accept: "image/*",
    capture: "environment",
    id: "photo-input",
    hidden: true,
  });
  const show = () => {
    box.replaceChildren();
    for (const [name, attachment] of Object.entries(photos)) {
      const remove = element("button", { type: "button", class: "small", text: "✕", "aria-label": t("remove_item") });
      remove.addEventListener("click", () => {
        delete photos[name];
        show();
        onChange();
      });
      const img = element("img", { alt: name, src: URL.createObjectURL(attachment.data) });
      box.append(element("figure", {}, img, remove));
    }
  };
  input.addEventListener("change", async () => {
    message.textContent = "";
    const file = input.files[0];
    input.value = "";
    if (!file) return;
    if (Object.keys(photos).length >= MAX_PHOTOS) {
      message.textContent = t("photo_too_many", { n: MAX_PHOTOS });
      return;
    }
    try {
      const blob = await scalePhoto(file);
      const name = `photo-${Date.now()}.jpg`;
      photos[name] = { content_type: "image/jpeg", data: blob };
      message.textContent = "";
      message.className = "hint";
      message.textContent = t("photo_scaled", { kb: Math.round(blob.size / 1024) });
      show();
      onChange();
    } catch (error) {
      message.className = "message";
      message.textContent = error instanceof PhotoError ? t(error.reason, error.params) : t("photo_unreadable");
    }
  });
  show();
  return element(
    "fieldset",
    {},
    element("legend", { text: t("photos") }),
    box,
    element("label", { class: "button", for: "photo-input", text: t("add_photo") }),
    input,
    message,
  );
}

export async function formScreen(draftId) {
  const store = app.store;
  const draft = await store.draft(draftId);
  if (!draft) return go("#/home");
  const ctx = await context();
  const doc = draft.doc;
  const photos = { ...(draft._attachments ?? {}) };
  const notice = (await noticesByDoc(store)).get(doc._id);
  let form;
  let timer = null;
  // A failed save shows every message from then on, also after a language switch.
  let submitted = draft.submitted === true;

  const check = () => {
    const errors = app.validator.validate({ ...form.read(), updated_at: nowIso() }, { entry: true });
    form.showErrors(errors, { all: submitted, flatten: flattenErrors, render: app.validator.render });
    return errors;
  };
  const autosave = async () => {
    clearTimeout(timer);
    await store.saveDraft({ ...draft, doc: form.read(), submitted, _attachments: photos });
    const status = document.getElementById("draft-status");
    if (status) status.textContent = t("draft_kept");
  };
  const changed = () => {
    check();
    clearTimeout(timer);
    timer = setTimeout(autosave, AUTOSAVE_MS);
  };
  ctx.onNewHousehold = async () => {
    await autosave();
    await startRecord("household", { returnTo: draftId });
  };

  form = recordForm(doc, ctx);
  form.node.addEventListener("input", changed);
  form.node.addEventListener("change", changed);
  const save = element("button", { type: "submit", class: "primary", id: "save", text: t("save") });
  const discard = element("button", { type: "button", class: "danger", id: "discard", text: t("discard_draft") });
  discard.addEventListener("click", async () => {
    if (!confirm(t("discard_confirm"))) return;
    clearTimeout(timer);
    app.beforeLeave = null;
    await store.removeDraft(draftId);
    go(draft.returnTo ? `#/form/${draft.returnTo}` : "#/home");
  });
  form.node.append(
    photoSection(photos, changed),
    element("p", { class: "hint", id: "draft-status" }),
    element("div", { class: "row" }, save, discard),
  );
  form.node.addEventListener("submit", async (event) => {
    event.preventDefault();
    submitted = true;
    const record = { ...form.read(), updated_at: nowIso() };
    if (draft.isNew) record.created_at = record.updated_at;
    const errors = app.validator.validate(record, { entry: true });
    if (errors) {
      await autosave();
      form.showErrors(errors, { all: true, flatten: flattenErrors, render: app.validator.render });
      notify(t("save_failed_check", { n: flattenErrors(errors).length }));
      form.node.querySelector(".summary")?.scrollIntoView();
      return;
    }
    clearTimeout(timer);
    app.beforeLeave = null;
    const saved = await store.save(Object.keys(photos).length ? { ...record, _attachments: photos } : record);
    await store.removeDraft(draftId);
    notify(t("saved_ok"));
    app.scheduler.soon(3);
    if (draft.returnTo) {
      const visit = await store.draft(draft.returnTo);
      if (visit) await store.saveDraft({ ...visit, doc: { ...visit.doc, household: saved._id } });
      return go(`#/form/${draft.returnTo}`);
    }
    return go("#/home");
  });

  const heading = element("h2", { text: label(app.description.types[doc.type]) });
  const back = element("button", { type: "button", id: "back", text: t("back") });
  back.addEventListener("click", async () => {
    await autosave();
    go(draft.returnTo ? `#/form/${draft.returnTo}` : "#/home");
  });
  const parts = [element("div", { class: "row" }, back), heading];
  if (draft.returnTo) parts.push(element("p", { class: "hint", text: t("household_back") }));
  if (notice) parts.push(reasonsBox(notice));
  screen().replaceChildren(...parts, form.node);
  // Whatever leaves this screen (a language switch, the back button, a new route) keeps
  // what was typed: the draft is written before the next screen is drawn.
  app.beforeLeave = autosave;
  if (submitted) check();
  return null;
}

/** The server's reasons for refusing a record, as it sent them (both languages). */
export function reasonsBox(notice) {
  return element(
    "div",
    { class: "summary", id: "server-reasons" },
    element("p", { text: t("server_reasons") }),
    ...notice.reasons.map((reason) => element("div", { class: "message", text: reason })),
  );
}
