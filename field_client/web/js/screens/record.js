// One saved record: its state, the server's reasons or the reviewer's comment, what
// it holds, and "Edit" (a refused or returned record is corrected and sent again).

import { app, go, screen } from "../app.js";
import { element } from "../forms.js";
import { label, t } from "../i18n.js";
import { noticesByDoc, stateOf, unsentIds } from "../records.js";
import { AUTOMATIC } from "../forms.js";
import { editRecord, reasonsBox } from "./form.js";

function shown(field, value) {
  if (value === null || value === undefined) return "";
  if (field.kind === "choice") return label(field.choices.find((choice) => choice.value === value) ?? { zh: value, en: value });
  if (field.kind === "list" && field.item.kind === "choice") {
    return value.map((item) => label(field.item.choices.find((choice) => choice.value === item) ?? { zh: item, en: item })).join("、");
  }
  if (field.kind === "bool") return value ? t("yes") : "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export async function recordScreen(id) {
  const store = app.store;
  const doc = await store.get(id);
  if (!doc) return go("#/home");
  const [unsent, notices] = await Promise.all([unsentIds(store), noticesByDoc(store)]);
  const state = stateOf(doc, unsent, notices);
  const schema = app.description.schemas[app.description.types[doc.type].schema];
  const rows = schema.fields
    .filter((field) => !AUTOMATIC.has(field.name) && doc[field.name] !== undefined)
    .map((field) =>
      element("div", { class: "field" }, element("div", { class: "label", text: label(field) }), element("div", { text: shown(field, doc[field.name]) })),
    );
  const parts = [
    element("h2", { text: label(app.description.types[doc.type]) }),
    element("p", {}, element("span", { class: `state state-${state}`, id: "record-state", "data-state": state, text: t(`state_${state}`) })),
  ];
  if (notices.has(id)) parts.push(reasonsBox(notices.get(id)));
  if (doc.review?.comment) {
    parts.push(element("div", { class: "summary", id: "review-comment" }, element("p", { text: t("reviewer_comment") }), element("div", { text: doc.review.comment })));
  }
  parts.push(element("p", { class: "hint", text: `${t("record_id")}: ${doc._id}` }), ...rows);
  const back = element("button", { type: "button", id: "back", text: t("back") });
  back.addEventListener("click", () => go("#/home"));
  const buttons = [back];
  if (state !== "approved") {
    const edit = element("button", { type: "button", class: "primary", id: "edit", text: t("edit") });
    edit.addEventListener("click", () => editRecord(id));
    buttons.unshift(edit);
  }
  screen().replaceChildren(...parts, element("div", { class: "row" }, ...buttons));
  return null;
}
