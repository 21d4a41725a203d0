// The volunteer's local databases: their records (replicated with the node that served
// the app) and their drafts (never replicated). One pair per volunteer on the tablet.

export const RECORD_TYPES = ["patrol", "water_source", "home_visit"];
const SYNC_STATE = "_local/fieldsync-sync";
const PHOTO_SAVES = "_local/fieldsync-photo-saves";

/** `db.get(id)`, or null where the document is not there. */
export async function getOrNull(db, id, options = {}) {
  try {
    return await db.get(id, options);
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

/** A database name for a username (usernames are [a-z0-9_.-], see schemas/user.py). */
function dbName(username, suffix) {
  return `fieldsync-${username}${suffix}`;
}

export class LocalStore {
  constructor(username) {
    this.username = username;
    this.author = `user:${username}`;
    this.db = new PouchDB(dbName(username, ""));
    this.drafts = new PouchDB(dbName(username, "-drafts"));
  }

  /** The volunteer's own user document, once a sync has brought it. */
  async profile() {
    return this.get(this.author);
  }

  async get(id, options = {}) {
    return getOrNull(this.db, id, options);
  }

  /** Save a record: one PouchDB put, durable when it resolves. */
  async save(doc) {
    const result = await this.db.put(doc);
    if (Object.values(doc._attachments ?? {}).some((attachment) => attachment.data)) await this.photoSaved();
    return { ...doc, _rev: result.rev };
  }

  /** How many saves carried new photos (sync.js sizes its batches by it). Its own
   * document: the sync writes _local/fieldsync-sync while the volunteer saves. */
  async photoSaves() {
    return (await this.get(PHOTO_SAVES))?.count ?? 0;
  }

  async photoSaved() {
    const doc = (await this.get(PHOTO_SAVES)) ?? { _id: PHOTO_SAVES, count: 0 };
    await this.db.put({ ...doc, count: doc.count + 1 });
  }

  /** Documents of one type (by id prefix), e.g. the households and the roster. */
  async ofType(type) {
    const result = await this.db.allDocs({
      startkey: `${type}:`,
      endkey: `${type}:\ufff0`,
      include_docs: true,
    });
    return result.rows.map((row) => row.doc);
  }

  async syncState() {
    return (await this.get(SYNC_STATE)) ?? { _id: SYNC_STATE, push_seq: 0, last_sync: null, summary: null };
  }

  async setSyncState(changes) {
    const state = await this.syncState();
    await this.db.put({ ...state, ...changes });
  }

  // -- drafts: the form as typed, so nothing is lost on a failed check or a closed tab.

  async saveDraft(draft) {
    // Only its revision is needed: reading its photos on every keystroke's save is waste.
    const existing = await getOrNull(this.drafts, draft._id);
    const result = await this.drafts.put({ ...draft, _rev: existing?._rev });
    return result.rev;
  }

  async draft(id) {
    return getOrNull(this.drafts, id, { attachments: true, binary: true });
  }

  async allDrafts() {
    const result = await this.drafts.allDocs({ include_docs: true });
    const drafts = result.rows.map((row) => row.doc);
    // A new record's draft whose record exists was left by a save cut short (a power
    // cut between the record's write and the draft's removal): the record holds what
    // was saved, so the draft goes, or the record is listed twice and cannot be saved.
    const ids = drafts.filter((draft) => draft.isNew && draft.doc?._id).map((draft) => draft.doc._id);
    const { rows } = await this.db.allDocs({ keys: ids });
    const saved = new Set(rows.filter((row) => row.value && !row.value.deleted).map((row) => row.id));
    const left = drafts.filter((draft) => draft.isNew && saved.has(draft.doc?._id));
    await Promise.all(left.map((draft) => this.drafts.remove(draft).catch(() => {})));
    return drafts.filter((draft) => !left.includes(draft));
  }

  async removeDraft(id) {
    const existing = await getOrNull(this.drafts, id); // its revision, not its photos
    if (existing) await this.drafts.remove(existing);
  }
}
