#!/usr/bin/env node
// Drive real PouchDB (npm `pouchdb`) from another process, for interoperability tests.
//
// Protocol: line-delimited JSON on stdin/stdout. One request per line,
//   {"id": n, "op": "...", ...args}
// one response per line, in completion order: requests run concurrently, so a client
// that needs ordering waits for each answer (a hung op does not block the others);
//   {"id": n, "ok": result}   or   {"id": n, "error": {"name", "status", "message", ...}}
// Databases are referred to by the integer handle that `open` returns.
// Buffers in results (attachments) are sent as base64 strings.
//
// Local databases use the memory adapter only, so the driver writes no files.
// It exits when stdin closes. Errors inside an op become error responses; stray
// errors (unhandled rejections, uncaught exceptions) are reported on stderr and
// the driver keeps serving, so one bad op cannot take down a whole test session.
'use strict';

// stdout carries the protocol only: anything a library prints goes to stderr.
const protocolOut = process.stdout;
for (const level of ['log', 'info', 'warn', 'debug']) {
  console[level] = (...args) => console.error(`[${level}]`, ...args);
}

process.on('unhandledRejection', (reason) => {
  console.error('pouch_driver: unhandled rejection:', reason && reason.stack ? reason.stack : reason);
});
process.on('uncaughtException', (err) => {
  console.error('pouch_driver: uncaught exception:', err && err.stack ? err.stack : err);
});

const readline = require('readline');
const PouchDB = require('pouchdb');
PouchDB.plugin(require('pouchdb-adapter-memory'));

const handles = new Map(); // handle -> {db, name, remote}
let nextHandle = 1;

function badRequest(message) {
  const err = new Error(message);
  err.name = 'bad_request';
  err.status = 400;
  return err;
}

function required(req, key) {
  if (req[key] === undefined || req[key] === null) {
    throw badRequest(`op ${req.op}: missing argument "${key}"`);
  }
  return req[key];
}

function dbOf(req, key = 'db') {
  const handle = required(req, key);
  const entry = handles.get(handle);
  if (!entry) {
    throw badRequest(`op ${req.op}: unknown database handle ${JSON.stringify(handle)} in "${key}"`);
  }
  return entry.db;
}

function isUrl(name) {
  return /^https?:\/\//i.test(name);
}

// JSON cannot carry functions, so a filter may be sent as JavaScript source.
function replicationOptions(req) {
  const options = Object.assign({}, req.options || {});
  delete options.live; // a one-shot replication is the only kind a request/response can await
  delete options.retry;
  if (typeof options.filter_js === 'string') {
    options.filter = new Function(`return (${options.filter_js});`)();
    delete options.filter_js;
  }
  return options;
}

function fromBase64(data) {
  if (typeof data !== 'string') {
    throw badRequest('attachment data must be a base64 string');
  }
  return Buffer.from(data, 'base64');
}

const ops = {
  async version() {
    return { pouchdb: PouchDB.version, node: process.version, adapters: Object.keys(PouchDB.adapters) };
  },

  // {name: "local-name" | "http://...", auth?: {username, password}, options?: {...}}
  async open(req) {
    const name = required(req, 'name');
    const remote = isUrl(name);
    const options = Object.assign({}, req.options || {});
    if (remote) {
      if (req.auth) options.auth = req.auth;
    } else {
      options.adapter = 'memory'; // never the leveldb default, which writes into cwd
    }
    const db = new PouchDB(name, options);
    const handle = nextHandle++;
    handles.set(handle, { db, name, remote });
    return { handle, name, remote, adapter: db.adapter };
  },

  async put(req) {
    return dbOf(req).put(required(req, 'doc'), req.options || {});
  },

  async get(req) {
    return dbOf(req).get(required(req, 'docid'), req.options || {});
  },

  async bulkDocs(req) {
    return dbOf(req).bulkDocs(required(req, 'docs'), req.options || {});
  },

  async bulkGet(req) {
    return dbOf(req).bulkGet(Object.assign({}, req.options || {}, { docs: required(req, 'docs') }));
  },

  async allDocs(req) {
    return dbOf(req).allDocs(req.options || {});
  },

  async changes(req) {
    const options = Object.assign({}, req.options || {}, { live: false });
    return dbOf(req).changes(options);
  },

  async revsDiff(req) {
    return dbOf(req).revsDiff(required(req, 'diff'));
  },

  async info(req) {
    return dbOf(req).info();
  },

  // {docid, rev} or {doc}
  async remove(req) {
    const db = dbOf(req);
    if (req.doc) return db.remove(req.doc, req.options || {});
    return db.remove(required(req, 'docid'), required(req, 'rev'), req.options || {});
  },

  // {docid, attachment, data: base64, content_type, rev?}
  async putAttachment(req) {
    const db = dbOf(req);
    const data = fromBase64(required(req, 'data'));
    const type = req.content_type || 'application/octet-stream';
    const docid = required(req, 'docid');
    const attachment = required(req, 'attachment');
    if (req.rev) return db.putAttachment(docid, attachment, req.rev, data, type);
    return db.putAttachment(docid, attachment, data, type);
  },

  // -> {data: base64, content_type, digest, length}; options such as {rev}
  async getAttachment(req) {
    const db = dbOf(req);
    const docid = required(req, 'docid');
    const attachment = required(req, 'attachment');
    const options = req.options || {};
    const data = await db.getAttachment(docid, attachment, options);
    // Node PouchDB hands back a bare Buffer; the stub carries the type and digest.
    const doc = await db.get(docid, options.rev ? { rev: options.rev } : {});
    const stub = (doc._attachments || {})[attachment] || {};
    return {
      data: data.toString('base64'),
      content_type: stub.content_type,
      digest: stub.digest,
      length: data.length,
    };
  },

  async replicate(req) {
    return PouchDB.replicate(dbOf(req, 'source'), dbOf(req, 'target'), replicationOptions(req));
  },

  // -> {push, pull}, the results of both directions
  async sync(req) {
    return PouchDB.sync(dbOf(req, 'a'), dbOf(req, 'b'), replicationOptions(req));
  },

  async compact(req) {
    return dbOf(req).compact();
  },

  async destroy(req) {
    const db = dbOf(req);
    const result = await db.destroy();
    handles.delete(req.db);
    return result;
  },

  async close(req) {
    const db = dbOf(req);
    await db.close();
    handles.delete(req.db);
    return { ok: true };
  },
};

function errorBody(err) {
  if (!err || typeof err !== 'object') {
    return { name: 'error', status: null, message: String(err) };
  }
  const body = {
    name: err.name || 'error',
    status: typeof err.status === 'number' ? err.status : null,
    message: err.message || err.reason || String(err),
  };
  if (typeof err.reason === 'string') body.reason = err.reason;
  if (err.result) body.result = err.result; // replication errors carry the partial result
  if (!(typeof err.status === 'number') && err.stack) body.stack = err.stack;
  return body;
}

// Buffers become base64 and Errors become plain objects; JSON.stringify has already
// called Buffer#toJSON on `value`, so the raw value is read from the holder.
function replacer(key, value) {
  const raw = this[key];
  if (Buffer.isBuffer(raw)) return raw.toString('base64');
  if (raw instanceof Error) return errorBody(raw);
  // Per-document errors in replication results are plain objects with a stack trace
  // (PouchDB's generateErrorFromResponse): noise in every answer, so it is dropped.
  if (key === 'stack' && typeof value === 'string' && /\n\s+at /.test(value) &&
      'status' in this && 'message' in this) {
    return undefined;
  }
  return value;
}

function send(message) {
  let line;
  try {
    line = JSON.stringify(message, replacer);
  } catch (err) {
    line = JSON.stringify({ id: message.id, error: errorBody(err) });
  }
  protocolOut.write(line + '\n');
}

let inFlight = 0;
let stdinClosed = false;
const CLOSE_GRACE_MS = 10000; // how long in-flight ops may finish after stdin closes

function exitIfDrained() {
  if (stdinClosed && inFlight === 0) process.exit(0);
}

async function handle(line) {
  let req;
  try {
    req = JSON.parse(line);
  } catch (err) {
    send({ id: null, error: { name: 'bad_request', status: 400, message: `invalid JSON: ${err.message}` } });
    return;
  }
  const id = req && req.id !== undefined ? req.id : null;
  inFlight++;
  try {
    const op = req && Object.prototype.hasOwnProperty.call(ops, req.op) ? ops[req.op] : null;
    if (!op) throw badRequest(`unknown op ${JSON.stringify(req && req.op)}`);
    const result = await op(req);
    send({ id, ok: result === undefined ? null : result });
  } catch (err) {
    send({ id, error: errorBody(err) });
  } finally {
    inFlight--;
    exitIfDrained();
  }
}

// Nobody reads the answers any more (the parent died): nothing left to do.
protocolOut.on('error', () => process.exit(0));

const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
input.on('line', (line) => {
  if (line.trim()) handle(line);
});
// Answer what is in flight, then exit: open HTTP agents and databases would keep the
// event loop alive, so the exit is explicit, and bounded in case an op hangs.
input.on('close', () => {
  stdinClosed = true;
  setTimeout(() => {
    console.error(`pouch_driver: exiting with ${inFlight} op(s) still running`);
    process.exit(0);
  }, CLOSE_GRACE_MS).unref();
  exitIfDrained();
});
