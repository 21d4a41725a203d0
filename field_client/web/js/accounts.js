// Volunteers of one shared tablet. Signing in needs the server once (/_session);
// afterwards a volunteer unlocks offline with their password or a PIN, checked
// against a slow salted hash (PBKDF2-SHA-256) kept on the tablet, never the secret
// itself. Each volunteer has their own local databases (store.js); the unlocked one
// is remembered for this tab only, so a reload stays unlocked and a lock ends it.

import { deviceId } from "./ids.js";
import { getOrNull } from "./store.js";

const ACCOUNTS_KEY = "fieldsync.accounts";
const CURRENT_KEY = "fieldsync.current";
// About a quarter of a second on a desktop core; a low-end tablet takes a second or two.
export const PBKDF2_ITERATIONS = 200000;
const PIN_TRIES = 5;
const PIN = /^[0-9]{4,8}$/u;

export class SignInError extends Error {
  constructor(reason) {
    super(reason);
    this.reason = reason; // "offline" | "wrong" | "throttled" | "server"
  }
}

function load() {
  try {
    return JSON.parse(localStorage.getItem(ACCOUNTS_KEY) ?? "{}");
  } catch {
    return {};
  }
}

// localStorage reaches the disk seconds after a change (Chromium batches it), so a
// power cut just after a sign-in would forget it; the accounts are mirrored into
// IndexedDB, which is durable when a write resolves, and restored from there at start.
const MIRROR = "_local/tablet-accounts";
let mirrorDb = null;
const mirror = () => (mirrorDb ??= new PouchDB("fieldsync-tablet"));

async function store(accounts) {
  localStorage.setItem(ACCOUNTS_KEY, JSON.stringify(accounts));
  const db = mirror();
  const previous = await getOrNull(db, MIRROR);
  await db.put({ _id: MIRROR, _rev: previous?._rev, accounts, device: localStorage.getItem("fieldsync.device") });
}

/** At start: bring back what a power cut kept out of localStorage. */
export async function restoreAccounts() {
  const saved = await getOrNull(mirror(), MIRROR);
  if (!saved) return;
  // Every change writes both, the mirror last: where they differ, the mirror is newer.
  localStorage.setItem(ACCOUNTS_KEY, JSON.stringify({ ...load(), ...saved.accounts }));
  if (saved.device && !localStorage.getItem("fieldsync.device")) localStorage.setItem("fieldsync.device", saved.device);
}

const hex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (text) => new Uint8Array(text.match(/../gu).map((pair) => Number.parseInt(pair, 16)));

async function verifier(secret, salt = crypto.getRandomValues(new Uint8Array(16))) {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), "PBKDF2", false, [
    "deriveBits",
  ]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", salt, iterations: PBKDF2_ITERATIONS, hash: "SHA-256" },
    key,
    256,
  );
  return { salt: hex(salt), hash: hex(bits), iterations: PBKDF2_ITERATIONS };
}

async function matches(secret, saved) {
  if (!saved) return false;
  const again = await verifier(secret, unhex(saved.salt));
  // Both are digests of the same length; a timing difference tells nothing useful.
  return again.hash === saved.hash;
}

/** Accounts that have signed in on this tablet, for the unlock screen. */
export function tabletAccounts() {
  return Object.values(load()).sort((a, b) => a.name.localeCompare(b.name));
}

/** Sign in with the server; remembers the account so it can unlock offline later. */
export async function signIn(name, password) {
  let response;
  try {
    response = await fetch("/_session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ name, password }),
    });
  } catch {
    throw new SignInError("offline");
  }
  if (response.status === 401) throw new SignInError("wrong");
  if (response.status === 429) throw new SignInError("throttled");
  if (!response.ok) throw new SignInError("server");
  const body = await response.json();
  deviceId(); // minted now, so the mirror below keeps it too
  const accounts = load();
  const previous = accounts[body.name] ?? {};
  accounts[body.name] = {
    ...previous,
    name: body.name,
    roles: body.roles,
    password: await verifier(password),
    pinTries: 0,
  };
  await store(accounts);
  sessionStorage.setItem(CURRENT_KEY, body.name);
  return accounts[body.name];
}

/** Unlock offline with a PIN or the password last used to sign in here. */
export async function unlock(name, secret) {
  const accounts = load();
  const account = accounts[name];
  if (!account) return { ok: false, reason: "wrong" };
  const pinAllowed = account.pin && account.pinTries < PIN_TRIES;
  if (PIN.test(secret) && pinAllowed && (await matches(secret, account.pin))) {
    account.pinTries = 0;
  } else if (await matches(secret, account.password)) {
    account.pinTries = 0;
  } else {
    if (PIN.test(secret) && account.pin) account.pinTries = (account.pinTries ?? 0) + 1;
    await store(accounts);
    const locked = account.pin && account.pinTries >= PIN_TRIES;
    return { ok: false, reason: locked ? "pin_locked" : "wrong" };
  }
  await store(accounts);
  sessionStorage.setItem(CURRENT_KEY, name);
  return { ok: true, account };
}

/** Set the unlocked volunteer's PIN; false if it is not 4 to 8 digits. */
export async function setPin(name, pin) {
  if (!PIN.test(pin)) return false;
  const accounts = load();
  accounts[name].pin = await verifier(pin);
  accounts[name].pinTries = 0;
  await store(accounts);
  return true;
}

/** Remember what the server says about the volunteer (from their user document). */
export async function rememberProfile(name, profile) {
  const accounts = load();
  if (!accounts[name]) return;
  accounts[name].displayName = profile.display_name;
  await store(accounts);
}

/** The unlocked volunteer's account, or null. */
export function currentAccount() {
  const name = sessionStorage.getItem(CURRENT_KEY);
  return name ? (load()[name] ?? null) : null;
}

/** Lock: the tablet forgets who is unlocked; their data stays, locked. */
export function lock() {
  sessionStorage.removeItem(CURRENT_KEY);
}

/** Sign out: lock, and end the server session when there is a connection. */
export async function signOut() {
  lock();
  try {
    await fetch("/_session", { method: "DELETE", credentials: "same-origin" });
  } catch {
    // Offline: the cookie expires on its own; the tablet is locked either way.
  }
}
