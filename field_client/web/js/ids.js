// Record ids minted offline: "{type}:{ULID}", as schemas/ids.py mints them (48-bit
// millisecond time and 80 random bits in Crockford base32), so tablets never collide.

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

export function newDocId(type, now = Date.now()) {
  let value = BigInt(now) << 80n;
  for (const [index, byte] of crypto.getRandomValues(new Uint8Array(10)).entries()) {
    value |= BigInt(byte) << BigInt(8 * (9 - index));
  }
  let digits = "";
  for (let i = 0; i < 26; i += 1) {
    digits = CROCKFORD[Number(value & 31n)] + digits;
    value >>= 5n;
  }
  return `${type}:${digits}`;
}

/** This tablet's device id, minted once (schemas' device pattern: [A-Za-z0-9_.:-]{1,64}). */
export function deviceId() {
  let id = localStorage.getItem("fieldsync.device");
  if (!id) {
    id = `tablet-${crypto.randomUUID().slice(0, 13)}`;
    localStorage.setItem("fieldsync.device", id);
  }
  return id;
}
