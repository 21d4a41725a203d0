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

async function newestMine(store, type, limit) {
  const found = [];
  let startkey = `${type}:\ufff0`;
  let skip = 0;
  // Pages of the type's ids, newest first (ULIDs sort by creation time).
  for (;;) {
    const page = await store.db.allDocs({
      descending: true,
      startkey,
      endkey: `${type}:`,
      limit: Math.max(limit * 2, 50),
      skip,
      include_docs: true,
    });
    for (const row of page.rows) {
      if (isMine(row.doc, store.author)) found.push(row.doc);
      if (found.length >= limit) return found;
    }
    if (page.rows.length === 0) return found;
    startkey = page.rows.at(-1).id;
    skip = 1;
  }
}

/** The newest `limit` records (drafts first), each {doc, state, notice}; and counts. */
export async function myRecords(store, limit = 50) {
  const [unsent, notices, drafts, ...perType] = await Promise.all([
    unsentIds(store),
    noticesByDoc(store),
    store.allDrafts(),
    ...RECORD_TYPES.map((type) => newestMine(store, type, limit)),
  ]);
  const saved = perType
    .flat()
    .sort((a, b) => (a._id.split(":")[1] < b._id.split(":")[1] ? 1 : -1))
    .slice(0, limit)
    .map((doc) => ({ doc, state: stateOf(doc, unsent, notices), notice: notices.get(doc._id) ?? null }));
  const draftRows = drafts
    .filter((draft) => RECORD_TYPES.includes(draft.doc?.type))
    .map((draft) => ({ doc: draft.doc, state: "draft", draftId: draft._id, notice: null }));
  return { rows: [...draftRows, ...saved], unsent: unsent.size, refused: await refusedCount(store, unsent, notices) };
}

/** Records on this tablet whose current revision a notice refuses (notices are few). */
async function refusedCount(store, unsent, notices) {
  if (notices.size === 0) return 0;
  const heads = await store.db.allDocs({ keys: [...notices.keys()] });
  return heads.rows.filter(
    (row) => row.value && !row.value.deleted && !unsent.has(row.id) && notices.get(row.id).rev === row.value.rev,
  ).length;
}
