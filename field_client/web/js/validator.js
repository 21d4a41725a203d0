// The tablet's validator: it interprets the description `schemas/export.py` exports
// (GET /app/schemas.json) and gives the verdicts and message keys marshmallow gives on
// the server, so a record that passes here is accepted there (tests/test_validator_parity.py
// holds both ends to that). It knows how each field kind parses and how each rule kind
// compares, as schemas/fields.py and schemas/rules.py do; every bound, vocabulary, rule
// and message comes from the description.
//
// Errors have marshmallow's shape: {field: [message, ...]} with nested schemas and list
// items as nested objects ({incidents: {"0": {kind: [...]}}}); a message is {key, params}
// and `render` gives its Chinese or English text.

/** A document the browser cannot judge (an old version to upgrade, reference data). */
export class Unsupported extends Error {}

const ABSENT = Symbol("absent");
const SEPARATOR = " / ";

// Unicode's Cc minus newline and tab (fields.py's _CONTROL); ids refuse both (ids.py).
const TEXT_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/u;
const ID_CONTROL = /[\x00-\x1f\x7f-\x9f]/u;
// What Python's str.strip() removes (str.isspace); JavaScript's trim() differs (U+FEFF).
const PYTHON_BLANK =
  /^[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/u;
const DATE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/u;
// schemas/fields.py's _DATETIME_RE, the one grammar both ends read.
const DATETIME =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?(Z|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)?$/u;

const message = (key, params = {}) => ({ key, params });
// Error trees and loaded records keyed by what a document sent: "__proto__" is a key too.
const tree = () => Object.create(null);

function fullMatcher(pattern) {
  return new RegExp(`^(?:${pattern})$`, "u");
}

function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function daysInMonth(year, month) {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
}

function realDate(year, month, day) {
  return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
function daysFromCivil(year, month, day) {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** A time as the rules compare it: the instant (microseconds, BigInt), and the date and
 * year in the offset the tablet recorded (what Python's .date() and .year give). */
class Instant {
  constructor(micros, localDate, year) {
    this.micros = micros;
    this.localDate = localDate;
    this.year = year;
  }
}

function parseDateTime(text) {
  const m = DATETIME.exec(text);
  if (m === null) return { error: "invalid_datetime" };
  const [year, month, day, hour, minute] = m.slice(1, 6).map(Number);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (!realDate(year, month, day) || hour > 23 || minute > 59 || second > 59) {
    return { error: "invalid_datetime" };
  }
  if (m[8] === undefined) return { error: "naive_datetime" };
  const fraction = BigInt((m[7] ?? "").slice(0, 6).padEnd(6, "0"));
  let offsetMinutes = 0;
  if (m[8] !== "Z") {
    const digits = m[8].slice(1).replace(":", "");
    const sign = m[8][0] === "-" ? -1 : 1;
    offsetMinutes = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || "0"));
  }
  const seconds =
    BigInt(daysFromCivil(year, month, day)) * 86400n +
    BigInt(hour * 3600 + minute * 60 + second - offsetMinutes * 60);
  return { value: new Instant(seconds * 1000000n + fraction, text.slice(0, 10), year) };
}

function compare(a, b) {
  if (a instanceof Instant && b instanceof Instant) {
    return a.micros < b.micros ? -1 : a.micros > b.micros ? 1 : 0;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Python's str.format for the `{name}` fields the catalogue uses (export.py refuses others). */
function format(template, params) {
  return template.replace(/\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}/gu, (whole, name) => {
    if (name === undefined) return whole[0];
    const value = params[name];
    return value === null || value === undefined ? "None" : String(value);
  });
}

function put(errors, path, found) {
  const parts = path.split(".");
  let node = errors;
  for (const part of parts.slice(0, -1)) {
    node[part] ??= tree();
    node = node[part];
  }
  node[parts.at(-1)] = [found];
}

/** marshmallow's merge of two error trees: lists concatenate, objects merge. */
function merge(into, more) {
  for (const [key, value] of Object.entries(more)) {
    if (!(key in into)) into[key] = value;
    else if (Array.isArray(into[key]) && Array.isArray(value)) into[key].push(...value);
    else if (isObject(into[key]) && isObject(value)) merge(into[key], value);
    else into[key] = value;
  }
  return into;
}

/**
 * @param {object} description the export (schemas/export.py's export_schemas()).
 */
export function createValidator(description) {
  const { ids, places, messages } = description;
  const ulid = fullMatcher(ids.ulid);
  const slug = fullMatcher(ids.slug);
  const placeCode = fullMatcher(places.code);
  const slugTypes = new Set(ids.slug_types);
  const docTypes = new Set(ids.doc_types);
  const special = new Set(description.special_members);
  const encoder = new TextEncoder();
  const patterns = new Map();

  function docIdError(value, docType) {
    if (typeof value !== "string") return message("not_string");
    if (value === "") return message("id_empty");
    if (!value.isWellFormed()) return message("text_surrogate");
    if (encoder.encode(value).length > ids.max_bytes) return message("id_too_long");
    if (ID_CONTROL.test(value)) return message("id_control");
    if (value.startsWith("_")) return message("id_underscore");
    if (value.includes("/")) return message("id_slash");
    const colon = value.indexOf(":");
    if (colon < 0) return message("id_format");
    const prefix = value.slice(0, colon);
    const rest = value.slice(colon + 1);
    if (!docTypes.has(prefix)) return message("id_unknown_type", ids.params);
    if (docType !== null && docType !== undefined && prefix !== docType) {
      return message("id_wrong_type", { expected: docType });
    }
    if (ulid.test(rest)) return null;
    if (slugTypes.has(prefix)) return slug.test(rest) ? null : message("id_format_reference");
    return message("id_format");
  }

  function text(value, field) {
    if (typeof value !== "string") return { error: message("not_string") };
    if (!value.isWellFormed()) return { error: message("text_surrogate") };
    const normal = value.normalize("NFC");
    if (TEXT_CONTROL.test(normal)) return { error: message("text_control") };
    if (!field.allow_blank && PYTHON_BLANK.test(normal)) return { error: message("text_blank") };
    let length = 0;
    for (const _ of normal) length += 1; // code points, as Python's len()
    if (length > field.max_length) {
      return { error: message("text_too_long", { max: String(field.max_length) }) };
    }
    return { value: normal };
  }

  const kinds = {
    text,
    token(value, field) {
      const read = text(value, field);
      if (read.error) return read;
      if (!patterns.has(field.pattern)) patterns.set(field.pattern, fullMatcher(field.pattern));
      return patterns.get(field.pattern).test(read.value) ? read : { error: message(field.message) };
    },
    choice(value, field) {
      const ok = typeof value === "string" && field.choices.some((c) => c.value === value);
      return ok ? { value } : { error: message("invalid_choice", field.params) };
    },
    int(value) {
      return Number.isInteger(value) ? { value } : { error: message("not_integer") };
    },
    number(value) {
      if (typeof value !== "number") return { error: message("not_number") };
      return Number.isFinite(value) ? { value } : { error: message("not_finite") };
    },
    bool(value) {
      return typeof value === "boolean" ? { value } : { error: message("not_boolean") };
    },
    date(value) {
      const m = typeof value === "string" ? DATE.exec(value) : null;
      const ok = m !== null && realDate(Number(m[1]), Number(m[2]), Number(m[3]));
      return ok ? { value } : { error: message("invalid_date") };
    },
    datetime(value) {
      if (typeof value !== "string") return { error: message("invalid_datetime") };
      const read = parseDateTime(value);
      return read.error ? { error: message(read.error) } : read;
    },
    doc_id(value, field) {
      const error = docIdError(value, field.doc_type);
      return error ? { error } : { value };
    },
    place_code(value, field) {
      if (typeof value !== "string" || !placeCode.test(value)) {
        return { error: message("place_code_invalid") };
      }
      const level = places.levels[String(value.length)];
      return field.levels.includes(level)
        ? { value }
        : { error: message("place_level_not_allowed", field.params) };
    },
  };

  function checkValidators(value, field) {
    const found = [];
    for (const check of field.validators) {
      if (check.check === "range") {
        if (check.min !== null) {
          if (check.min_exclusive && value <= check.min) found.push(message("number_above", check.params));
          if (!check.min_exclusive && value < check.min) found.push(message("number_min", check.params));
        }
        if (check.max !== null && value > check.max) found.push(message("number_max", check.params));
      } else if (check.check === "length") {
        if (check.min !== null && value.length < check.min) {
          found.push(message("list_min", { min: String(check.min) }));
        }
        if (check.max !== null && value.length > check.max) {
          found.push(message("list_max", { max: String(check.max) }));
        }
      } else if (check.check === "unique") {
        const keys = value.map((item) => (check.by ? item[check.by] : item));
        if (new Set(keys).size !== keys.length) found.push(message(check.message));
      } else {
        throw new Unsupported(`unknown validator ${check.check}`);
      }
    }
    return found;
  }

  /** One field's value: {value} or {errors} (a list of messages, or a tree). */
  function loadField(raw, field) {
    let read;
    if (field.kind === "object") read = loadSchema(raw, field.schema);
    else if (field.kind === "list") read = loadList(raw, field);
    else {
      const parse = kinds[field.kind];
      if (!parse) throw new Unsupported(`unknown field kind ${field.kind}`);
      const parsed = parse(raw, field);
      read = parsed.error ? { errors: [parsed.error] } : parsed;
    }
    if (read.errors) return read;
    const failed = checkValidators(read.value, field);
    return failed.length ? { errors: failed } : read;
  }

  function loadValue(raw, field) {
    if (raw === null) return field.allow_none ? { value: null } : { errors: [message("null")] };
    return loadField(raw, field);
  }

  function loadList(raw, field) {
    if (!Array.isArray(raw)) return { errors: [message("not_list")] };
    const value = [];
    const errors = tree();
    raw.forEach((item, index) => {
      const read = loadValue(item, field.item);
      if (read.errors) errors[String(index)] = read.errors;
      else value.push(read.value);
    });
    return Object.keys(errors).length ? { errors } : { value };
  }

  function loadSchema(raw, name) {
    const schema = description.schemas[name];
    if (!isObject(raw)) return { errors: { _schema: [message("not_object")] } };
    const value = tree();
    const errors = tree();
    const known = new Set();
    for (const field of schema.fields) {
      known.add(field.name);
      if (!Object.hasOwn(raw, field.name)) {
        if (field.required) errors[field.name] = [message("required")];
        continue;
      }
      const read = loadValue(raw[field.name], field);
      if (read.errors) errors[field.name] = read.errors;
      else value[field.attr ?? field.name] = read.value;
    }
    for (const key of Object.keys(raw)) {
      if (!known.has(key)) errors[key] = [message("unknown")];
    }
    if (Object.keys(errors).length) return { errors };
    // Schema hooks run only on a record whose fields all passed (marshmallow's
    // skip_on_field_errors); _check_envelope sorts before _check_rules.
    const hooks = tree();
    if (schema.envelope) merge(hooks, envelopeErrors(value, schema.envelope));
    if (schema.rules) merge(hooks, ruleErrors(schema.rules, value));
    return Object.keys(hooks).length ? { errors: hooks } : { value };
  }

  function envelopeErrors(value, envelope) {
    const errors = tree();
    if (value.type !== envelope.doc_type) {
      errors.type = [message("type_mismatch", { expected: envelope.doc_type })];
    } else if (value.doc_id.split(":", 1)[0] !== value.type) {
      errors._id = [message("id_prefix_mismatch")];
    }
    if (value.schema_version !== envelope.version) {
      errors.schema_version = [message("version_mismatch", { expected: String(envelope.version) })];
    }
    return errors;
  }

  function ruleErrors(rules, data) {
    const errors = tree();
    for (const rule of rules) {
      const failedBefore = new Set(Object.keys(errors));
      for (const [path, found] of ruleChecks[rule.rule](rule, data)) {
        if (!failedBefore.has(path.split(".", 1)[0])) put(errors, path, found);
      }
    }
    return errors;
  }

  return {
    description,
    validate,
    docIdError,
    render: (found, lang) => renderMessage(messages, found, lang),
    bilingual: (errors) => mapTree(errors, (found) => bilingual(messages, found)),
  };

  /** Judge a document as schemas.validate_document does (with `entry`, as
   * schemas.check_entry does, where a record is typed): null when it is valid. */
  function validate(doc, { entry = false } = {}) {
    if (!isObject(doc)) return { _schema: [message("not_object")] };
    if (doc._deleted === true) {
      const error = docIdError(doc._id);
      if (error === null) return null;
      return { _id: [Object.hasOwn(doc, "_id") ? error : message("required")] };
    }
    const type = doc.type ?? null;
    if (type === null) return { type: [message("required")] };
    if (typeof type !== "string" || !Object.hasOwn(description.current_versions, type)) {
      return { type: [message("unknown_doc_type", ids.params)] };
    }
    const version = doc.schema_version ?? null;
    if (version === null) return { schema_version: [message("required")] };
    if (!Number.isInteger(version) || version < 1) {
      return { schema_version: [message("version_invalid")] };
    }
    const current = description.current_versions[type];
    if (version > current) {
      return {
        schema_version: [
          message("version_too_new", { version: String(version), current: String(current) }),
        ],
      };
    }
    const exported = Object.hasOwn(description.types, type) ? description.types[type] : null;
    if (exported === null || version !== current) {
      throw new Unsupported(`${type} version ${version} is judged by the server only`);
    }
    const body = Object.fromEntries(Object.entries(doc).filter(([key]) => !special.has(key)));
    const read = loadSchema(body, exported.schema);
    if (read.errors) return read.errors;
    const entryRules = entry ? description.schemas[exported.schema].entry_rules : undefined;
    if (!entryRules) return null;
    const errors = ruleErrors(entryRules, read.value);
    return Object.keys(errors).length ? errors : null;
  }
}

// -- rules (schemas/rules.py) ----------------------------------------------------------

function get(data, path) {
  let value = data;
  for (const part of path.split(".")) {
    if (!isObject(value) || !Object.hasOwn(value, part)) return ABSENT;
    value = value[part];
    if (value === null) return ABSENT;
  }
  return value;
}

function readAs(value, reading) {
  if (reading === "local_date") return value instanceof Instant ? value.localDate : value;
  if (reading === "year") return value.year;
  return value;
}

function ruleMessage(rule, field, other = null) {
  return message(rule.message, { field, previous: other });
}

const ruleChecks = {
  *at_least(rule, data) {
    const value = get(data, rule.field);
    const than = get(data, rule.than);
    if (value !== ABSENT && than !== ABSENT && compare(value, readAs(than, rule.as)) < 0) {
      yield [rule.field, ruleMessage(rule, rule.field, rule.than)];
    }
  },
  *within(rule, data) {
    const value = get(data, rule.field);
    const start = get(data, rule.of);
    if (value !== ABSENT && start !== ABSENT) {
      if (value.micros - start.micros > BigInt(rule.seconds) * 1000000n) {
        yield [rule.field, ruleMessage(rule, rule.field, rule.of)];
      }
    }
  },
  *in_order(rule, data) {
    let previous = null;
    for (const name of rule.fields) {
      const value = get(data, name);
      if (value === ABSENT) continue;
      if (previous !== null && compare(value, get(data, previous)) < 0) {
        yield [name, ruleMessage(rule, name, previous)];
      }
      previous = name;
    }
  },
  *required_when(rule, data) {
    const { when } = rule;
    const value = get(data, when.field);
    const holds = "in" in when ? when.in.includes(value) : value !== ABSENT && !when.not_in.includes(value);
    if (!holds) return;
    for (const name of rule.fields) {
      if (get(data, name) === ABSENT) yield [name, ruleMessage(rule, name, when.field)];
    }
  },
  *any_of(rule, data) {
    const given = rule.fields.some((name) => {
      const value = get(data, name);
      return value !== ABSENT && value !== "" && !(Array.isArray(value) && value.length === 0);
    });
    if (!given) yield [rule.at, ruleMessage(rule, rule.at)];
  },
  *count_at_most(rule, data) {
    const items = get(data, rule.field);
    const most = get(data, rule.than);
    if (items !== ABSENT && most !== ABSENT && items.length > most) {
      yield [rule.field, ruleMessage(rule, rule.field, rule.than)];
    }
  },
  *each_at_most(rule, data) {
    const items = get(data, rule.field);
    let most = get(data, rule.than);
    if (items === ABSENT || most === ABSENT) return;
    most = readAs(most, rule.as);
    for (const [index, item] of items.entries()) {
      const value = get(item, rule.item);
      if (value !== ABSENT && compare(value, most) > 0) {
        yield [`${rule.field}.${index}.${rule.item}`, ruleMessage(rule, rule.item, rule.than)];
      }
    }
  },
  *not_after(rule, data) {
    const than = get(data, rule.than);
    if (than === ABSENT) return;
    const latest = readAs(than, rule.as);
    for (const name of rule.fields) {
      const value = get(data, name);
      if (value !== ABSENT && compare(value, latest) > 0) yield [name, ruleMessage(rule, name, rule.than)];
    }
  },
  *parts_decreasing(rule, data) {
    const value = get(data, rule.field);
    if (value === ABSENT) return;
    const parts = value.split(rule.separator).map((part) => Number.parseInt(part, 10));
    if (parts.some((later, index) => index > 0 && later >= parts[index - 1])) {
      yield [rule.field, ruleMessage(rule, rule.field)];
    }
  },
};

// -- messages ----------------------------------------------------------------------------

/** A message in one language ("zh" or "en"). */
export function renderMessage(messages, found, lang) {
  const halves = messages[found.key];
  if (!halves) return found.key;
  return format(halves[lang === "en" ? 1 : 0], found.params);
}

/** The message as the server words it: "中文。 / English." */
export function bilingual(messages, found) {
  return renderMessage(messages, found, "zh") + SEPARATOR + renderMessage(messages, found, "en");
}

/** The same tree with every message replaced by `render(message)`. */
export function mapTree(errors, render) {
  if (errors === null) return null;
  if (Array.isArray(errors)) return errors.map(render);
  return Object.fromEntries(Object.entries(errors).map(([key, value]) => [key, mapTree(value, render)]));
}

/** [[["incidents", "0", "kind"], message], ...]: every message with its path. */
export function flattenErrors(errors, path = []) {
  if (errors === null) return [];
  if (Array.isArray(errors)) return errors.map((found) => [path, found]);
  return Object.entries(errors).flatMap(([key, value]) => flattenErrors(value, [...path, key]));
}
