// One saved record: its state, the server's reasons or the reviewer's comment, what
// it holds, and "Edit" (a refused or returned record is corrected and sent again).

import { app, go, screen } from "../app.js";
import { AUTOMATIC, element } from "../forms.js";
import { label, t } from "../i18n.js";
import { noticesByDoc, stateOf, unsentIds } from "../records.js";
import { editRecord, reasonsBox } from "./form.js";

const choiceLabel = (choices, value) => label(choices.find((choice) => choice.value === value) ?? { zh: value, en: value });

/** A field's value for reading: labels for choices and people, nested records as lists. */
function shown(field, value, names) {
  if (value === null || value === undefined) return element("div", { text: "—" });
  switch (field.kind) {
    case "choice":
      return element("div", { text: choiceLabel(field.choices, value) });
    case "bool":
      return element("div", { text: value ? t("yes") : "—" });
    case "datetime": // as the tablet recorded it, as the list shows it
      return element("div", { text: String(value).slice(0, 16).replace("T", " ") });
    case "place_code":
    case "doc_id":
      return element("div", { text: names.get(value) ?? value });
    case "object":
      return fieldsOf(field.schema, value, names);
    case "list":
      if (field.item.kind === "object") {
        return element("div", {}, ...value.map((item) => element("div", { class: "item" }, fieldsOf(field.item.schema, item, names))));
      }
      return element("div", { text: value.map((item) => (field.item.kind === "choice" ? choiceLabel(field.item.choices, item) : (names.get(item) ?? item))).join("、") });
    default:
      return element("div", { text: String(value) });
  }
}

function fieldsOf(schemaName, value, names, skip = new Set()) {
  const schema = app.description.schemas[schemaName];
  return element(
    "div",
    {},
    ...schema.fields
      .filter((field) => !skip.has(field.name) && value[field.name] !== undefined && value[field.name] !== null)
      .map((field) => element("div", { class: "field" }, element("div", { class: "label", text: label(field) }), shown(field, value[field.name], names))),
  );
}

export async function recordScreen(id) {
  const store = app.store;
  const doc = await store.get(id);
  if (!doc) return go("#/home");
  const [unsent, notices] = await Promise.all([unsentIds(store), noticesByDoc(store)]);
  const state = stateOf(doc, unsent, notices);
  const [users, households, places] = await Promise.all(["user", "household", "place"].map((type) => store.ofType(type)));
  const names = new Map([
    ...users.map((user) => [user._id, user.display_name]),
    ...households.map((household) => [household._id, `${household.household_no} ${household.head_of_household}`]),
    ...places.map((place) => [place.code, `${place.name_zh} (${place.code})`]),
  ]);
  const rows = [fieldsOf(app.description.types[doc.type].schema, doc, names, AUTOMATIC)];
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
