import ipaddr from 'ipaddr.js';

/**
 * What kind of destination an IP address is, for the egress policy. The special-purpose ranges
 * come from ipaddr.js (which follows the IANA registries); Weft adds the cloud metadata
 * addresses that sit outside link-local and looks through IPv6 forms that embed an IPv4 address
 * (`::ffff:127.0.0.1`, NAT64 `64:ff9b::7f00:1`, 6to4 `2002:7f00:1::`), so a loopback address in
 * IPv6 clothing is still loopback.
 */

/** `public`: global unicast; `private`: loopback, RFC 1918, CGNAT, ULA, …; `link-local`: link-local and metadata. */
export type AddressKind = 'public' | 'private' | 'link-local';

/** An address's kind and the name of the range that decided it (`loopback`, `carrierGradeNat`, …). */
export interface AddressClass {
  kind: AddressKind;
  range: string;
}

/**
 * Metadata services outside 169.254.0.0/16 and fe80::/10: AWS's IPv6 IMDS, Alibaba Cloud's
 * metadata (inside CGNAT space) and Azure's WireServer (a public address only reachable from
 * inside Azure). Treated like link-local: refused unless named in WEFT_EGRESS_ALLOW.
 */
export const METADATA_ADDRESSES: readonly string[] = Object.freeze([
  'fd00:ec2::254',
  '100.100.100.200',
  '168.63.129.16',
]);

const metadata = METADATA_ADDRESSES.map((text) => ipaddr.parse(text).toNormalizedString());

/** IPv4 ranges (ipaddr.js names) that are reachable across the internet. */
const PUBLIC_V4 = new Set(['unicast', 'as112', 'amt']);
/** IPv6 ranges (ipaddr.js names) that are reachable across the internet. */
const PUBLIC_V6 = new Set(['unicast', 'as112v6', 'amt']);

/** Parses an address as Node's resolver or a URL host gives it (IPv6 with or without brackets). */
export function parseAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  // Only plain forms: a URL host is already normalised by the WHATWG parser, and resolvers give
  // plain forms; odd spellings such as `0x7f.1` are host names here and never reach a socket.
  if (!ipaddr.IPv4.isValidFourPartDecimal(bare) && !ipaddr.IPv6.isValid(bare)) return undefined;
  return ipaddr.parse(bare);
}

/**
 * The IPv4 address an IPv6 address stands for, when it embeds one: IPv4-mapped (`::ffff:a.b.c.d`),
 * IPv4-compatible (`::a.b.c.d`), IPv4-translated (RFC 6145), NAT64 (RFC 6052) or 6to4.
 */
export function embeddedIPv4(address: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const parts = address.parts;
  const fromWords = (high: number, low: number) =>
    new ipaddr.IPv4([(high >> 8) & 0xff, high & 0xff, (low >> 8) & 0xff, low & 0xff]);
  const range = address.range();
  if (range === 'ipv4Mapped' || range === 'rfc6145' || range === 'rfc6052') {
    return fromWords(parts[6] ?? 0, parts[7] ?? 0);
  }
  if (range === '6to4') return fromWords(parts[1] ?? 0, parts[2] ?? 0);
  // IPv4-compatible (deprecated, ::/96), but not :: and ::1 themselves.
  if (parts.slice(0, 6).every((part) => part === 0) && (parts[6] ?? 0) !== 0) {
    return fromWords(parts[6] ?? 0, parts[7] ?? 0);
  }
  return undefined;
}

/** Classifies an address; an IPv6 address embedding an IPv4 one is classified by the IPv4 one. */
export function classifyAddress(address: ipaddr.IPv4 | ipaddr.IPv6): AddressClass {
  if (metadata.includes(address.toNormalizedString())) return { kind: 'link-local', range: 'metadata' };
  if (address.kind() === 'ipv6') {
    const v6 = address as ipaddr.IPv6;
    const inner = embeddedIPv4(v6);
    if (inner) return classifyAddress(inner);
    const range = v6.range();
    if (range === 'linkLocal') return { kind: 'link-local', range };
    return { kind: PUBLIC_V6.has(range) ? 'public' : 'private', range };
  }
  const range = (address as ipaddr.IPv4).range();
  if (range === 'linkLocal') return { kind: 'link-local', range };
  return { kind: PUBLIC_V4.has(range) ? 'public' : 'private', range };
}
