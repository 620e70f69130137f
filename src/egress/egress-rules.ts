import ipaddr from 'ipaddr.js';
import { embeddedIPv4 } from './address-class.js';

/**
 * The entries of WEFT_EGRESS_ALLOW and WEFT_EGRESS_DENY: comma-separated host names, `*.suffix`
 * wildcards, `*` (every host), IP addresses, CIDR ranges (IPv4 and IPv6) and, in ALLOW only
 * meaningfully, URL schemes (`data:`). Parsing is strict: a typo stops the process at start
 * rather than silently allowing or refusing something.
 */

/** One parsed entry; `text` is the entry as the operator wrote it (shown in refusal messages). */
export type EgressRule =
  | { kind: 'any'; text: string }
  | { kind: 'host'; text: string; host: string }
  | { kind: 'suffix'; text: string; suffix: string }
  | { kind: 'cidr'; text: string; range: [ipaddr.IPv4 | ipaddr.IPv6, number] }
  | { kind: 'scheme'; text: string; scheme: string };

const HOST_NAME = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;
const SCHEME = /^[a-z][a-z0-9+.-]*:$/;

/** Lower case, no brackets around IPv6, no trailing dot: the form rules are matched against. */
export function normalizeHost(host: string): string {
  let result = host.trim().toLowerCase();
  if (result.startsWith('[') && result.endsWith(']')) result = result.slice(1, -1);
  return result.endsWith('.') ? result.slice(0, -1) : result;
}

/** Parses one entry; throws an Error saying what is wrong with it. */
export function parseEgressRule(entry: string): EgressRule {
  const text = entry.trim();
  const lower = text.toLowerCase();
  if (lower === '*') return { kind: 'any', text };
  const bare = urlHostForm(normalizeHost(lower));
  if (ipaddr.isValid(bare) && (ipaddr.IPv4.isValidFourPartDecimal(bare) || ipaddr.IPv6.isValid(bare))) {
    const address = ipaddr.parse(bare);
    return { kind: 'cidr', text, range: [address, address.kind() === 'ipv4' ? 32 : 128] };
  }
  if (ipaddr.isValidCIDR(lower)) {
    const [address, bits] = ipaddr.parseCIDR(lower);
    if (address.kind() === 'ipv4' && !ipaddr.IPv4.isValidCIDRFourPartDecimal(lower)) {
      throw new Error(`'${text}': write IPv4 ranges in four-part decimal, e.g. 10.0.0.0/8`);
    }
    return { kind: 'cidr', text, range: [address, bits] };
  }
  if (SCHEME.test(lower)) return { kind: 'scheme', text, scheme: lower };
  if (lower.includes('/') || lower.includes(':')) {
    throw new Error(
      `'${text}' is not a host name, IP address, CIDR range or scheme (ports and paths are not supported)`,
    );
  }
  if (lower.startsWith('*.')) {
    const suffix = normalizeHost(lower.slice(2));
    if (!HOST_NAME.test(suffix)) throw new Error(`'${text}' is not a valid wildcard (write *.example.com)`);
    return { kind: 'suffix', text, suffix };
  }
  if (!HOST_NAME.test(bare)) throw new Error(`'${text}' is not a valid host name`);
  return { kind: 'host', text, host: bare };
}

/**
 * The host as a URL's host parser reads it, for entries without a port, path or wildcard: IPv4
 * in other spellings (`2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`) becomes `127.0.0.1`, as it
 * does in a step's URL, so an entry written that way covers the address and does not sit in the
 * list as a host name that nothing can ever match.
 */
function urlHostForm(host: string): string {
  if (host === '' || /[/:*@?#\\[\]\s]/.test(host)) return host;
  try {
    const parsed = new URL(`http://${host}/`).hostname;
    return ipaddr.IPv4.isValidFourPartDecimal(parsed) ? parsed : host;
  } catch {
    // Not a host any URL could name (`1.2.3.999`, `a..b`): say so rather than keep a dead entry.
    throw new Error(`'${host}' is not a valid host name or IPv4 address`);
  }
}

/** Parses a comma-separated list; empty entries are ignored. Throws naming the bad entry. */
export function parseEgressList(raw: string | undefined): EgressRule[] {
  return (raw ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map(parseEgressRule);
}

/** The first rule naming this host (exact name, wildcard suffix or `*`), if any. */
export function matchHost(rules: readonly EgressRule[], host: string): EgressRule | undefined {
  const name = normalizeHost(host);
  return rules.find(
    (rule) =>
      rule.kind === 'any' ||
      (rule.kind === 'host' && rule.host === name) ||
      (rule.kind === 'suffix' && name.endsWith(`.${rule.suffix}`)),
  );
}

/**
 * The first IP or CIDR rule covering this address, if any. An IPv6 address that embeds an IPv4
 * one (`::ffff:10.0.0.1`) matches IPv4 rules through it, so `10.0.0.0/8` covers both spellings.
 */
export function matchAddress(rules: readonly EgressRule[], address: ipaddr.IPv4 | ipaddr.IPv6): EgressRule | undefined {
  const candidates: Array<ipaddr.IPv4 | ipaddr.IPv6> = [address];
  if (address.kind() === 'ipv6') {
    const inner = embeddedIPv4(address as ipaddr.IPv6);
    if (inner) candidates.push(inner);
  }
  return rules.find(
    (rule) =>
      rule.kind === 'cidr' &&
      candidates.some((candidate) => candidate.kind() === rule.range[0].kind() && candidate.match(rule.range)),
  );
}

/** The rule allowing this URL scheme (e.g. `data:`), if any. */
export function matchScheme(rules: readonly EgressRule[], scheme: string): EgressRule | undefined {
  return rules.find((rule) => rule.kind === 'scheme' && rule.scheme === scheme.toLowerCase());
}

/** True when the list has an IP or CIDR rule (then no host can be refused before it is resolved). */
export function hasAddressRules(rules: readonly EgressRule[]): boolean {
  return rules.some((rule) => rule.kind === 'cidr');
}
