// "My records": every record the volunteer made or took part in, newest first, with its
// state derived as field_client/README.md defines it (draft, saved, refused, returned,
// approved, sent). The list reads a page per record type, not the whole database, so it
// stays fast with tens of thousands of local records.

import { deviceId } from "./ids.js";
import { RECORD_TYPES } from "./store.js";

const WRITTEN_HERE = new Set([...RECORD_TYPES, "household"]);
const PARTICIPANTS = { patrol: "participants", home_visit: "volunteers" };

// Made or taken part in by the volunteer, or typed on this tablet in someone else's
// name (a refusal of it must reach whoever typed it).
function isMine(doc, author) {
  if (doc.author === author || doc.device === deviceId()) return true;
  const list = doc[PARTICIPANTS[doc.type]];
  return Array.isArray(list) && list.includes(author);
}

/** Ids saved on this tablet since the last completed push. */
export async function unsentIds(store) {
  const { push_seq: since } = await store.syncState();
  const changes = await store.db.changes({ since, return_docs: true });
  return new Set(
    changes.results.filter((row) => WRITTEN_HERE.has(row.id.split(":", 1)[0])).map((row) => row.id),
  );
}

/** The server's rejection notices, by the id of the document they are about. */
export async function noticesByDoc(store) {
  const notices = await store.ofType("rejection_notice");
  return new Map(notices.map((notice) => [notice.about, notice]));
}

/** The state of one saved record. */
export function stateOf(doc, unsent, notices) {
  if (unsent.has(doc._id)) return "saved";
  // A notice names the revision refused; an edit since is a new revision.
  if (notices.get(doc._id)?.rev === doc._rev) return "refused";
  const review = doc.review?.state;
  if (review === "returned" || review === "approved") return review;
  return "sent";
}

const ulidOf = (id) => id.slice(id.indexOf(":") + 1);

/** The next ids of one type, newest first (ids only: no bodies are read). */
async function moreIds(store, cursor, count) {
  const page = await store.db.allDocs({
    descending: true,
    startkey: cursor.after ?? `${cursor.type}:\ufff0`,
    endkey: `${cursor.type}:`,
    limit: count,
    skip: cursor.after ? 1 : 0,
  });
  cursor.ids.push(...page.rows.map((row) => row.id));
  cursor.done = page.rows.length < count;
  if (page.rows.length) cursor.after = page.rows.at(-1).id;
}

// The newest of the volunteer's records across the types. Bodies are what cost (each
// is decoded), so the ids are merged first and only a page's worth of bodies is read;
// another round runs only when some of them were someone else's.
async function newestMine(store, limit) {
  const cursors = RECORD_TYPES.map((type) => ({ type, ids: [], done: false, after: null }));
  const found = [];
  for (let round = 0; found.length < limit && round < 100; round += 1) {
    const want = limit - found.length;
    await Promise.all(cursors.filter((c) => !c.done && c.ids.length < want).map((c) => moreIds(store, c, want)));
    const next = cursors
      .flatMap((cursor) => cursor.ids)
      .sort((a, b) => (ulidOf(a) < ulidOf(b) ? 1 : -1))
      .slice(0, want);
    if (next.length === 0) break;
    const taken = new Set(next);
    for (const cursor of cursors) cursor.ids = cursor.ids.filter((id) => !taken.has(id));
    const bodies = await store.db.allDocs({ keys: next, include_docs: true });
    found.push(...bodies.rows.filter((row) => row.doc && isMine(row.doc, store.author)).map((row) => row.doc));
  }
  return found;
}

/** The newest `limit` records (drafts first), each {doc, state, notice}; whether
 * there are more; and counts. */
export async function myRecords(store, limit = 50) {
  const [unsent, notices, drafts, mine] = await Promise.all([
    unsentIds(store),
    noticesByDoc(store),
    store.allDrafts(),
    newestMine(store, limit + 1), // one more than shown tells whether there are more
  ]);
  const saved = mine.slice(0, limit).map((doc) => ({ doc, state: stateOf(doc, unsent, notices), notice: notices.get(doc._id) ?? null }));
  const draftRows = drafts
    .filter((draft) => RECORD_TYPES.includes(draft.doc?.type))
    .map((draft) => ({ doc: draft.doc, state: "draft", draftId: draft._id, notice: null }));
  return {
    rows: [...draftRows, ...saved],
    more: mine.length > limit,
    unsent: unsent.size,
    refused: await refusedCount(store, unsent, notices),
  };
}

/** Records on this tablet whose current revision a notice refuses (notices are few). */
async function refusedCount(store, unsent, notices) {
  if (notices.size === 0) return 0;
  const heads = await store.db.allDocs({ keys: [...notices.keys()] });
  return heads.rows.filter(
    (row) => row.value && !row.value.deleted && !unsent.has(row.id) && notices.get(row.id).rev === row.value.rev,
  ).length;
}
