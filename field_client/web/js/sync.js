// Sync with the node that served the app, by the CouchDB protocol (PouchDB's
// replicator): push, pull, push, as field_client/README.md explains. Batches are small
// so a dropped link loses at most one; request bodies are gzipped where the browser
// can (the gateway reads Content-Encoding: gzip); a failure is retried with backoff.

import { RECORD_TYPES } from "./store.js";
import { deviceId } from "./ids.js";

// Records without photos go 50 at a time (about 10 KB gzipped: one batch is what a
// dropped link loses, and fewer requests is fewer headers); while records with new photos
// wait, 10 at a time, so ten records of four photos (~270 KB each, encoded) stay under
// the server's 16 MiB request limit. The pull brings small documents, 100 at a time.
export const PUSH_BATCH = 50;
export const PHOTO_PUSH_BATCH = 10;
export const PULL_BATCH = 100;
// Checkpoints are kept on the tablet only: the server holds what it was sent, and a
// checkpoint read and write on the server per batch doubled the requests of a push.
const PUSHING = { batch_size: PUSH_BATCH, batches_limit: 1, checkpoint: "source" };
const PULLING = { batch_size: PULL_BATCH, batches_limit: 2, checkpoint: "target" };
const COMPRESS_FROM = 1024; // bytes: smaller bodies gain nothing from gzip
const BACKOFF_SECONDS = [5, 15, 30, 60, 120, 300];
const EVERY_SECONDS = 600; // while the app is open and syncs succeed

export class SyncError extends Error {
  constructor(kind, detail) {
    super(detail ?? kind);
    this.kind = kind; // "offline" | "signin" | "server"
  }
}

async function gzipped(text) {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Response(stream).arrayBuffer();
}

/** fetch for PouchDB: same-origin cookies, the tablet's device id (the server keeps it
 * with what it refuses, and the station page shows each tablet's last sync), and gzip
 * for large POST bodies. */
export async function compressingFetch(url, options = {}) {
  const request = { ...options, credentials: "same-origin" };
  request.headers = new Headers(request.headers);
  request.headers.set("X-Fieldsync-Device", deviceId());
  if (
    typeof CompressionStream === "function" &&
    request.method === "POST" &&
    typeof request.body === "string" &&
    request.body.length >= COMPRESS_FROM
  ) {
    request.headers.set("Content-Encoding", "gzip");
    request.body = await gzipped(request.body);
  }
  return fetch(url, request);
}

export function remoteDb(options = {}) {
  return new PouchDB(new URL("/db", location.origin).href, {
    skip_setup: true,
    fetch: options.fetch ?? compressingFetch,
  });
}

function classify(error) {
  const status = error?.status ?? error?.result?.status;
  if (status === 401 || status === 403) return new SyncError("signin");
  if (!navigator.onLine || error?.name === "TypeError" || status === undefined || status === 0) {
    return new SyncError("offline", String(error?.message ?? error));
  }
  return new SyncError("server", `${status} ${error?.reason ?? error?.message ?? ""}`.trim());
}

function replicate(source, target, options, onChange) {
  return new Promise((resolve, reject) => {
    const run = PouchDB.replicate(source, target, { retry: false, ...options });
    run.on("change", onChange);
    run.on("complete", (info) => (info.ok === false && info.status === "aborting" ? reject(info) : resolve(info)));
    run.on("error", reject);
  });
}

/**
 * One sync. `onProgress({phase, sent, received})` as batches go; the summary
 * {sent, received, refused, conflicts} is also kept in _local/fieldsync-sync.
 */
export async function syncOnce(store, { onProgress = () => {}, remote = remoteDb(), push = {}, pull = {} } = {}) {
  const summary = { sent: 0, received: 0, refused: 0, conflicts: 0 };
  const pulledRecords = new Set();
  try {
    const [state, photoSaves] = await Promise.all([store.syncState(), store.photoSaves()]);
    const photos = photoSaves > (state.photo_saves_sent ?? 0);
    const batch = { batch_size: photos ? PHOTO_PUSH_BATCH : PUSH_BATCH };
    const sent = await replicate(store.db, remote, { ...PUSHING, ...batch, ...push }, (info) =>
      onProgress({ phase: "push", sent: info.docs_written, received: 0 }),
    );
    summary.sent = sent.docs_written;
    summary.refused = sent.doc_write_failures;
    const received = await replicate(remote, store.db, { ...PULLING, ...pull }, (info) => {
      for (const doc of info.docs ?? []) {
        if (RECORD_TYPES.includes(doc._id.split(":", 1)[0])) pulledRecords.add(doc._id);
      }
      onProgress({ phase: "pull", sent: summary.sent, received: info.docs_written });
    });
    summary.received = received.docs_written;
    // The pulled documents are on the server already: this push only moves the checkpoint.
    const confirmed = await replicate(store.db, remote, { ...PUSHING, batch_size: PULL_BATCH, ...push }, () => {});
    summary.sent += confirmed.docs_written;
    summary.refused += confirmed.doc_write_failures;
    for (const id of pulledRecords) {
      const doc = await store.get(id, { conflicts: true });
      if (doc?._conflicts?.length) summary.conflicts += 1;
    }
    await store.setSyncState({
      push_seq: confirmed.last_seq,
      photo_saves_sent: photoSaves, // those photos went with the first push
      last_sync: new Date().toISOString(),
      summary,
    });
    return summary;
  } catch (error) {
    throw error instanceof SyncError ? error : classify(error);
  }
}

/**
 * Keeps a volunteer's tablet in sync: when the app opens, when the network comes back,
 * soon after a save, and on "Sync now". A failed sync is retried with backoff; the
 * listener hears every step ({state: "syncing"|"done"|"failed", ...}).
 */
export class SyncScheduler {
  constructor(store, listener) {
    this.store = store;
    this.listener = listener;
    this.running = null;
    this.failures = 0;
    this.timer = null;
    this.online = () => this.soon(1);
    window.addEventListener("online", this.online);
  }

  stop() {
    this.stopped = true; // a sync still in flight must not schedule the next one
    clearTimeout(this.timer);
    window.removeEventListener("online", this.online);
  }

  /** Sync in `seconds` unless one is already waiting sooner. */
  soon(seconds = 5) {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.now(), seconds * 1000);
  }

  async now() {
    if (this.running) return this.running;
    this.started = (this.started ?? 0) + 1;
    clearTimeout(this.timer);
    this.listener({ state: "syncing", phase: "push", sent: 0, received: 0 });
    this.running = syncOnce(this.store, { onProgress: (step) => this.listener({ state: "syncing", ...step }) })
      .then((summary) => {
        this.failures = 0;
        this.soon(EVERY_SECONDS);
        this.listener({ state: "done", summary });
        return summary;
      })
      .catch((error) => {
        const kind = error.kind ?? "server";
        const seconds = BACKOFF_SECONDS[Math.min(this.failures, BACKOFF_SECONDS.length - 1)];
        this.failures += 1;
        if (kind !== "signin") this.soon(seconds);
        this.listener({ state: "failed", kind, seconds, reason: error.message });
        return null;
      })
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }
}
