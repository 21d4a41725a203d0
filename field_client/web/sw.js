// The tablet app's service worker: it keeps the app shell so the app opens with no
// network. field_client/serve.py writes VERSION and SHELL in as it serves this file, so
// a new app or schema version is a new worker: it installs in the background and waits
// until the app, between entries, asks it to take over (never forced mid-entry).
const VERSION = "__VERSION__";
const SHELL = ["__SHELL__"];
const CACHE = `fieldsync-shell-${VERSION}`;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names
            .filter((name) => name.startsWith("fieldsync-shell-") && name !== CACHE)
            .map((name) => caches.delete(name)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("message", (event) => {
  if (event.data === "take-over") self.skipWaiting();
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  // Only the shell is cached; /db/ and /_session always go to the network.
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (!url.pathname.startsWith("/app/") || url.pathname === "/app/sw.js") return;
  const key = url.pathname === "/app/" || url.pathname === "/app/index.html" ? "./" : event.request;
  event.respondWith(
    caches
      .open(CACHE)
      .then((cache) => cache.match(key, { ignoreSearch: true }))
      .then((cached) => cached ?? fetch(event.request)),
  );
});
