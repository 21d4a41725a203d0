// Forms generated from the schema export: one widget per field kind, so a field added
// in schemas/ appears on the tablet with no JavaScript edit. A form reads back exactly
// what was typed (a number that does not parse stays the text typed, for the validator
// to name), so a failed check never loses anything.

import { label, t, getLang } from "./i18n.js";

// Fields the app fills in itself (the envelope) or the server owns.
export const AUTOMATIC = new Set([
  "_id",
  "type",
  "schema_version",
  "station",
  "team",
  "author",
  "device",
  "created_at",
  "updated_at",
  "review",
  "server_received_at",
  "track",
]);
// Machine keys inside nested records, minted by the app.
const MINTED = { need_id: () => `need-${crypto.randomUUID().slice(0, 8)}` };
const NUMBER = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/u;
const RADIO_MAX = 6;

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}
export { element };

const pad = (n) => String(n).padStart(2, "0");

/** The browser's offset at a local time, as "+08:00". */
function offsetAt(date) {
  const minutes = -date.getTimezoneOffset();
  const sign = minutes < 0 ? "-" : "+";
  return `${sign}${pad(Math.floor(Math.abs(minutes) / 60))}:${pad(Math.abs(minutes) % 60)}`;
}

/** Now as an ISO time in the tablet's offset (what the records store). */
export function nowIso(date = new Date()) {
  const local = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  return local + offsetAt(date);
}

export function todayIso(date = new Date()) {
  return nowIso(date).slice(0, 10);
}

function readNumber(text) {
  const trimmed = text.trim();
  if (trimmed === "") return undefined;
  return NUMBER.test(trimmed) ? Number(trimmed) : text;
}

function readDateTime(text) {
  if (text === "") return undefined;
  const local = text.length === 16 ? `${text}:00` : text;
  return local + offsetAt(new Date(local));
}

const pathKey = (path) => path.join(".");

/**
 * A field's widget: {node, read()}; read() gives the JSON value or undefined (not given).
 * `ctx` holds the roster, the households, the places and callbacks from main.js.
 */
function widget(field, path, value, ctx, schemaName) {
  const id = `f-${pathKey(path).replace(/[^A-Za-z0-9_-]/gu, "-")}`;
  const read = inputWidget(field, path, value, ctx, id, schemaName);
  const wrapper = element(
    "div",
    { class: "field", "data-path": pathKey(path) },
    field.kind === "object" || (field.kind === "list" && !simpleList(field))
      ? null
      : element("label", { for: id, class: field.required ? "required" : null, text: label(field) }),
    read.node,
  );
  return { node: wrapper, read: read.read };
}

function simpleList(field) {
  return ["choice", "doc_id"].includes(field.item.kind);
}

function inputWidget(field, path, value, ctx, id, schemaName) {
  switch (field.kind) {
    case "text":
    case "token": {
      const multiline = field.kind === "text" && field.max_length > 200;
      const input = element(multiline ? "textarea" : "input", { id, type: multiline ? null : "text", maxlength: null });
      input.value = typeof value === "string" ? value : value === undefined || value === null ? "" : String(value);
      return { node: input, read: () => (input.value === "" ? undefined : input.value) };
    }
    case "int":
    case "number": {
      const input = element("input", {
        id,
        type: "text",
        inputmode: field.kind === "int" ? "numeric" : "decimal",
        autocomplete: "off",
      });
      input.value = value === undefined || value === null ? "" : String(value);
      return { node: input, read: () => readNumber(input.value) };
    }
    case "bool": {
      const input = element("input", { id, type: "checkbox" });
      input.checked = value === true;
      const box = element("label", { class: "choices" }, input, t("yes"));
      return { node: box, read: () => input.checked };
    }
    case "choice":
      return choiceWidget(field, value, id);
    case "date": {
      const input = element("input", { id, type: "date" });
      input.value = typeof value === "string" ? value.slice(0, 10) : "";
      const today = element("button", { type: "button", class: "small", text: t("today") });
      today.addEventListener("click", () => {
        input.value = todayIso();
        input.dispatchEvent(new Event("input", { bubbles: true }));
      });
      return { node: element("div", { class: "row" }, input, today), read: () => input.value || undefined };
    }
    case "datetime": {
      const input = element("input", { id, type: "datetime-local", step: "60" });
      input.value = typeof value === "string" ? value.slice(0, 16).replace(" ", "T") : "";
      const now = element("button", { type: "button", class: "small", text: t("now") });
      now.addEventListener("click", () => {
        input.value = nowIso().slice(0, 16);
        input.dispatchEvent(new Event("input", { bubbles: true }));
      });
      return { node: element("div", { class: "row" }, input, now), read: () => readDateTime(input.value) };
    }
    case "doc_id":
      if (field.doc_type === "household") return householdWidget(value, ctx, id);
      if (field.doc_type === "user") return rosterSelect(field, value, ctx, id);
      return textFallback(value, id);
    case "place_code":
      return placeWidget(field, value, ctx, id);
    case "object":
      return objectWidget(field, path, value, ctx);
    case "list":
      return simpleList(field) ? checkboxList(field, value, ctx, id) : repeatedWidget(field, path, value, ctx);
    default:
      throw new Error(`${schemaName}.${field.name}: no widget for ${field.kind}`);
  }
}

function textFallback(value, id) {
  const input = element("input", { id, type: "text" });
  input.value = typeof value === "string" ? value : "";
  return { node: input, read: () => input.value || undefined };
}

function choiceWidget(field, value, id) {
  if (field.choices.length <= RADIO_MAX) {
    const name = `${id}-${Math.random().toString(36).slice(2)}`;
    const inputs = [];
    const box = element("div", { class: "choices", id, role: "radiogroup" });
    for (const choice of field.choices) {
      const input = element("input", { type: "radio", name, value: choice.value });
      input.checked = value === choice.value;
      inputs.push(input);
      box.append(element("label", {}, input, label(choice)));
    }
    return { node: box, read: () => inputs.find((input) => input.checked)?.value };
  }
  const select = element("select", { id });
  select.append(element("option", { value: "", text: field.required ? t("choose") : t("none_selected") }));
  for (const choice of field.choices) select.append(element("option", { value: choice.value, text: label(choice) }));
  select.value = typeof value === "string" ? value : "";
  return { node: select, read: () => select.value || undefined };
}

function checkboxList(field, value, ctx, id) {
  const options =
    field.item.kind === "choice"
      ? field.item.choices.map((choice) => ({ value: choice.value, text: label(choice) }))
      : ctx.roster.map((user) => ({ value: user._id, text: user.display_name }));
  const chosen = new Set(Array.isArray(value) ? value : []);
  // Someone named in the record but not on this tablet's roster stays listed.
  for (const known of chosen) {
    if (!options.some((option) => option.value === known)) options.push({ value: known, text: known });
  }
  const box = element("div", { class: "choices", id });
  if (options.length === 0) box.append(element("p", { class: "hint", text: t("roster_empty") }));
  const inputs = options.map((option) => {
    const input = element("input", { type: "checkbox", value: option.value });
    input.checked = chosen.has(option.value);
    box.append(element("label", {}, input, option.text));
    return input;
  });
  return {
    node: box,
    read: () => {
      const picked = inputs.filter((input) => input.checked).map((input) => input.value);
      return picked.length || field.required ? picked : undefined;
    },
  };
}

function rosterSelect(field, value, ctx, id) {
  const select = element("select", { id });
  select.append(element("option", { value: "", text: field.required ? t("choose") : t("none_selected") }));
  for (const user of ctx.roster) select.append(element("option", { value: user._id, text: user.display_name }));
  if (value && !ctx.roster.some((user) => user._id === value)) {
    select.append(element("option", { value, text: value }));
  }
  select.value = value ?? "";
  return { node: select, read: () => select.value || undefined };
}

function placeWidget(field, value, ctx, id) {
  const places = ctx.places.filter((place) => field.levels.includes(place.level));
  const select = element("select", { id });
  select.append(element("option", { value: "", text: t("choose") }));
  for (const place of places) {
    select.append(element("option", { value: place.code, text: `${place.name_zh} (${place.code})` }));
  }
  if (value && !places.some((place) => place.code === value)) select.append(element("option", { value, text: value }));
  select.value = value ?? "";
  return { node: select, read: () => select.value || undefined };
}

function householdWidget(value, ctx, id) {
  const search = element("input", { type: "search", id: `${id}-search`, placeholder: t("household_search") });
  const list = element("div", { class: "choices", id });
  let chosen = value ?? "";
  const describe = (household) =>
    `${household.household_no} ${household.head_of_household ?? ""} · ${household.address ?? ""}`;
  const show = () => {
    const query = search.value.trim().toLowerCase();
    const matches = ctx.households
      .filter((household) => household._id === chosen || !query || describe(household).toLowerCase().includes(query))
      .slice(0, 20);
    list.replaceChildren();
    if (matches.length === 0) list.append(element("p", { class: "hint", text: t("household_none") }));
    for (const household of matches) {
      const input = element("input", { type: "radio", name: `${id}-radio`, value: household._id });
      input.checked = household._id === chosen;
      input.addEventListener("change", () => {
        chosen = household._id;
      });
      list.append(element("label", {}, input, describe(household)));
    }
  };
  search.addEventListener("input", show);
  show();
  const create = element("button", { type: "button", text: t("household_new") });
  create.addEventListener("click", () => ctx.onNewHousehold());
  return { node: element("div", { class: "stack" }, search, list, create), read: () => chosen || undefined };
}

function objectWidget(field, path, value, ctx) {
  const inner = schemaFields(field.schema, path, value ?? {}, ctx);
  const legend = element("legend", { class: field.required ? "required" : null, text: label(field) });
  const box = element("fieldset", {}, legend);
  if (field.schema === "Location") box.append(locationButton(box, ctx));
  box.append(...inner.nodes);
  return {
    node: box,
    read: () => {
      const read = inner.read();
      // An optional group left empty is "not given", not an object of missing fields.
      if (!field.required && Object.keys(read).every((key) => read[key] === undefined || key in inner.minted)) {
        return value === null || value === undefined ? undefined : null;
      }
      return read;
    },
  };
}

function locationButton(box, ctx) {
  const status = element("p", { class: "hint" });
  const button = element("button", { type: "button", text: t("get_location") });
  button.addEventListener("click", () => {
    if (!navigator.geolocation) {
      status.textContent = t("location_failed", { reason: "—" });
      return;
    }
    status.textContent = t("locating");
    navigator.geolocation.getCurrentPosition(
      (position) => {
        const { latitude, longitude, accuracy, altitude } = position.coords;
        const set = (name, number) => {
          const input = box.querySelector(`[data-path$=".${name}"] input`);
          if (input && number !== null && number !== undefined) input.value = String(Math.round(number * 1e6) / 1e6);
        };
        set("lat", latitude);
        set("lon", longitude);
        set("accuracy_m", accuracy);
        set("altitude_m", altitude);
        const taken = box.querySelector('[data-path$=".taken_at"] input[type="datetime-local"]');
        if (taken) taken.value = nowIso(new Date(position.timestamp)).slice(0, 16);
        status.textContent = t("location_accuracy", { m: Math.round(accuracy) });
        box.dispatchEvent(new Event("input", { bubbles: true }));
      },
      (error) => {
        status.textContent = t("location_failed", { reason: error.message || error.code });
      },
      { enableHighAccuracy: true, timeout: 30000, maximumAge: 60000 },
    );
  });
  ctx.locationStatus = status;
  return element("div", { class: "stack" }, button, status);
}

function repeatedWidget(field, path, value, ctx) {
  const legend = element("legend", { class: field.required ? "required" : null, text: label(field) });
  const items = element("div");
  const box = element("fieldset", { "data-path": pathKey(path) }, legend, items);
  let entries = [];
  const render = (values) => {
    items.replaceChildren();
    entries = values.map((itemValue, index) => {
      const inner = schemaFields(field.item.schema, [...path, String(index)], itemValue ?? {}, ctx);
      const remove = element("button", { type: "button", class: "small danger", text: t("remove_item") });
      remove.addEventListener("click", () => {
        const current = entries.map((entry) => entry.read());
        current.splice(index, 1);
        render(current);
        box.dispatchEvent(new Event("input", { bubbles: true }));
      });
      items.append(element("div", { class: "item", "data-path": pathKey([...path, String(index)]) }, ...inner.nodes, remove));
      return inner;
    });
  };
  render(Array.isArray(value) ? value : []);
  const add = element("button", { type: "button", text: `＋ ${label(field)}` });
  add.addEventListener("click", () => {
    render([...entries.map((entry) => entry.read()), {}]);
    box.dispatchEvent(new Event("input", { bubbles: true }));
  });
  box.append(add);
  return {
    node: box,
    read: () => {
      const values = entries.map((entry) => entry.read());
      return values.length || field.required ? values : undefined;
    },
  };
}

/** The widgets of a schema's fields (skipping `skip`): {nodes, read(), minted}. */
export function schemaFields(schemaName, path, value, ctx, skip = new Set()) {
  const schema = ctx.description.schemas[schemaName];
  const parts = [];
  const minted = {};
  for (const field of schema.fields) {
    if (skip.has(field.name)) continue;
    if (MINTED[field.name]) {
      minted[field.name] = value[field.name] ?? MINTED[field.name]();
      continue;
    }
    parts.push([field.name, widget(field, [...path, field.name], value[field.name], ctx, schemaName)]);
  }
  return {
    nodes: parts.map(([, part]) => part.node),
    minted,
    read: () => {
      const out = { ...minted };
      for (const [name, part] of parts) {
        const read = part.read();
        if (read !== undefined) out[name] = read;
      }
      return out;
    },
  };
}

/**
 * A record's form: {node, read(), showErrors(errors, {all})}. `doc` holds the
 * envelope the app filled in and whatever was typed before (a draft or a saved record).
 */
export function recordForm(doc, ctx) {
  const schemaName = ctx.description.types[doc.type].schema;
  const fields = schemaFields(schemaName, [], doc, ctx, AUTOMATIC);
  const summary = element("div", { class: "summary", hidden: true, role: "alert" });
  const form = element("form", { class: "record-form", novalidate: true }, summary, ...fields.nodes);
  const touched = new Set();
  form.addEventListener("focusout", (event) => {
    const wrapper = event.target.closest?.("[data-path]");
    if (wrapper) touched.add(wrapper.dataset.path);
  });
  const read = () => {
    const out = { ...doc };
    for (const name of Object.keys(out)) if (!AUTOMATIC.has(name) && !name.startsWith("_")) delete out[name];
    return { ...out, ...fields.read() };
  };
  const showErrors = (errors, { all = false, flatten, render }) => {
    for (const node of form.querySelectorAll(".check-message")) node.remove();
    for (const node of form.querySelectorAll(".invalid")) node.classList.remove("invalid");
    const loose = [];
    let shown = 0;
    for (const [path, found] of flatten(errors)) {
      let key = path.join(".");
      let wrapper = form.querySelector(`[data-path="${CSS.escape(key)}"]`);
      while (!wrapper && key.includes(".")) {
        key = key.slice(0, key.lastIndexOf("."));
        wrapper = form.querySelector(`[data-path="${CSS.escape(key)}"]`);
      }
      if (!all && !(wrapper && [...touched].some((done) => done === key || done.startsWith(`${key}.`)))) continue;
      const text = render(found, getLang());
      shown += 1;
      if (wrapper) {
        wrapper.classList.add("invalid");
        wrapper.append(element("div", { class: "message check-message", text }));
      } else {
        loose.push(`${path.join(".")}: ${text}`);
      }
    }
    summary.hidden = !all || shown === 0;
    summary.replaceChildren(
      element("p", { text: t("save_failed_check", { n: shown }) }),
      ...loose.map((line) => element("div", { class: "message check-message", text: line })),
    );
    return shown;
  };
  return { node: form, read, showErrors };
}
