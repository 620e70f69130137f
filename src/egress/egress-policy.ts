import type { WeftConfig } from '../config.js';
import { classifyAddress, parseAddress } from './address-class.js';
import {
  type EgressRule,
  hasAddressRules,
  matchAddress,
  matchHost,
  matchScheme,
  normalizeHost,
  parseEgressList,
} from './egress-rules.js';

/**
 * The one outbound-request policy of a Weft process (`http` steps, `llm.chat`, webhook
 * deliveries). It decides per destination address, once the host name is resolved, in this order:
 *
 * 1. link-local and metadata addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254, …) are refused
 *    unless an IP or CIDR entry of WEFT_EGRESS_ALLOW covers the address (a host name entry is not
 *    enough: a name can be re-pointed, the address is what the operator vouches for);
 * 2. an entry of WEFT_EGRESS_ALLOW naming the host or covering the address allows it;
 * 3. an entry of WEFT_EGRESS_DENY naming the host or covering the address refuses it;
 * 4. with WEFT_EGRESS_PRIVATE=deny, private addresses (loopback, RFC 1918, CGNAT, ULA,
 *    unspecified, multicast, reserved, …) are refused;
 * 5. everything else is allowed.
 *
 * ALLOW beats DENY so that `WEFT_EGRESS_DENY=*` with a short ALLOW list is an allow-list. URL
 * schemes other than http(s) are refused unless ALLOW names the scheme (`data:`).
 */

/** The parsed settings (WEFT_EGRESS_ALLOW, WEFT_EGRESS_DENY, WEFT_EGRESS_PRIVATE). */
export interface EgressSettings {
  allow: readonly EgressRule[];
  deny: readonly EgressRule[];
  /** `allow` (default) lets steps reach private addresses; `deny` refuses them. */
  privateAddresses: 'allow' | 'deny';
}

/** A decision: allowed, or refused with the reason in words. */
export type EgressDecision = { allowed: true } | { allowed: false; reason: string };

/** The decisions of one set of settings; see the order above. */
export class EgressPolicy {
  readonly settings: EgressSettings;

  constructor(settings: Partial<EgressSettings> = {}) {
    this.settings = { allow: [], deny: [], privateAddresses: 'allow', ...settings };
  }

  /** The policy from lists of entries; throws an Error naming the variable and entry when one is invalid. */
  static fromLists(
    allow: readonly string[] = [],
    deny: readonly string[] = [],
    privateAddresses: 'allow' | 'deny' = 'allow',
  ): EgressPolicy {
    return new EgressPolicy({
      allow: parseList('WEFT_EGRESS_ALLOW', allow),
      deny: parseList('WEFT_EGRESS_DENY', deny),
      privateAddresses,
    });
  }

  /** Whether a URL's scheme may be requested at all: http(s), or one that ALLOW names. */
  checkScheme(url: URL): EgressDecision {
    const scheme = url.protocol.toLowerCase();
    if (scheme === 'http:' || scheme === 'https:') return { allowed: true };
    if (matchScheme(this.settings.allow, scheme)) return { allowed: true };
    return {
      allowed: false,
      reason: `the scheme '${scheme}' is refused: only http and https are allowed (WEFT_EGRESS_ALLOW may name others)`,
    };
  }

  /**
   * A decision before resolving a host name, when one can already be made: the host is named by
   * DENY, not by ALLOW, and ALLOW has no address entries that could allow what it resolves to.
   */
  checkHostName(host: string): EgressDecision {
    const { allow, deny } = this.settings;
    const denied = matchHost(deny, host);
    if (!denied || matchHost(allow, host) || hasAddressRules(allow)) return { allowed: true };
    return { allowed: false, reason: `${normalizeHost(host)} matches WEFT_EGRESS_DENY entry '${denied.text}'` };
  }

  /** The decision for connecting to `address` (an IP as text) on behalf of the URL host `host`. */
  checkAddress(host: string, address: string): EgressDecision {
    const parsed = parseAddress(address);
    const name = normalizeHost(host);
    const target = name === normalizeHost(address) ? address : `${name} (${address})`;
    if (!parsed) return { allowed: false, reason: `${target}: '${address}' is not an IP address` };
    const { allow, deny, privateAddresses } = this.settings;
    const addressClass = classifyAddress(parsed);
    if (addressClass.kind === 'link-local') {
      if (matchAddress(allow, parsed)) return { allowed: true };
      return {
        allowed: false,
        reason:
          `${target} is a ${addressClass.range === 'metadata' ? 'cloud metadata' : 'link-local'} address, always ` +
          'refused unless an IP or CIDR entry of WEFT_EGRESS_ALLOW covers it',
      };
    }
    if (matchHost(allow, name) || matchAddress(allow, parsed)) return { allowed: true };
    const denied = matchHost(deny, name) ?? matchAddress(deny, parsed);
    if (denied) return { allowed: false, reason: `${target} matches WEFT_EGRESS_DENY entry '${denied.text}'` };
    if (privateAddresses === 'deny' && addressClass.kind === 'private') {
      return {
        allowed: false,
        reason: `${target} is a private address (${addressClass.range}) and WEFT_EGRESS_PRIVATE=deny`,
      };
    }
    return { allowed: true };
  }
}

/** The policy of a process's WEFT_EGRESS_* settings. */
export function egressPolicyFromConfig(
  config: Pick<WeftConfig, 'egressAllow' | 'egressDeny' | 'egressPrivate'>,
): EgressPolicy {
  return EgressPolicy.fromLists(config.egressAllow, config.egressDeny, config.egressPrivate);
}

function parseList(variable: string, entries: readonly string[]): EgressRule[] {
  try {
    return parseEgressList(entries.join(','));
  } catch (error) {
    throw new Error(`${variable}: ${(error as Error).message}`);
  }
}
