import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { classifyAddress, parseAddress } from '../src/egress/address-class.js';
import { EgressPolicy } from '../src/egress/egress-policy.js';
import { matchAddress, matchHost, parseEgressList, parseEgressRule } from '../src/egress/egress-rules.js';

/**
 * The egress policy's pure parts: parsing WEFT_EGRESS_ALLOW/DENY entries, matching hosts and
 * addresses, and the decision order (link-local first, then ALLOW, DENY, WEFT_EGRESS_PRIVATE).
 * Addresses are given the way a URL's host parser or the resolver hands them over, so the odd
 * spellings of loopback (2130706433, 0x7f.1, ::ffff:127.0.0.1) are checked through `new URL`.
 */

/** The host a URL connects to, as the egress client sees it (brackets stripped). */
const hostOf = (url: string) => new URL(url).hostname.replace(/^\[|\]$/g, '');
const decide = (policy: EgressPolicy, url: string) => policy.checkAddress(hostOf(url), hostOf(url));
const refused = (decision: { allowed: boolean; reason?: string }) => (decision.allowed ? '' : decision.reason);

describe('egress rules', () => {
  it('parses hosts, wildcards, IPs, CIDR ranges and schemes', () => {
    assert.deepEqual(parseEgressRule('API.Example.com.'), {
      kind: 'host',
      text: 'API.Example.com.',
      host: 'api.example.com',
    });
    assert.deepEqual(parseEgressRule('*.Example.com'), {
      kind: 'suffix',
      text: '*.Example.com',
      suffix: 'example.com',
    });
    assert.equal(parseEgressRule('*').kind, 'any');
    assert.equal(parseEgressRule('data:').kind, 'scheme');
    const single = parseEgressRule('10.1.2.3');
    assert.equal(single.kind === 'cidr' && `${single.range[0]}/${single.range[1]}`, '10.1.2.3/32');
    const v6 = parseEgressRule('[::1]');
    assert.equal(v6.kind === 'cidr' && `${v6.range[0]}/${v6.range[1]}`, '::1/128');
    const range = parseEgressRule('fd00::/8');
    assert.equal(range.kind === 'cidr' && range.range[1], 8);
    assert.deepEqual(
      parseEgressList(' a.example , ,10.0.0.0/8,').map((rule) => rule.text),
      ['a.example', '10.0.0.0/8'],
    );
  });

  it('reads IPv4 in the spellings a URL accepts as the address they stand for', () => {
    for (const spelling of ['2130706433', '0x7f.1', '0177.0.0.1', '127.1', '0x7f000001']) {
      const rule = parseEgressRule(spelling);
      assert.equal(rule.kind, 'cidr', spelling);
      assert.ok(matchAddress([rule], parseAddress('127.0.0.1') as never), `${spelling} covers 127.0.0.1`);
    }
  });

  it('rejects entries that could never match, naming them', () => {
    for (const [entry, message] of [
      ['example.com:8080', /ports and paths are not supported/],
      ['https://example.com/x', /ports and paths are not supported/],
      ['10.0.0.0/33', /not a host name, IP address, CIDR range or scheme/],
      ['10.1/8', /four-part decimal/],
      ['*.', /not a valid wildcard/],
      ['1.2.3.999', /not a valid host name or IPv4 address/],
      ['bad host', /not a valid host name/],
    ] as const) {
      assert.throws(() => parseEgressRule(entry), message, entry);
    }
    assert.throws(
      () => loadConfig({ WEFT_EGRESS_DENY: 'ok.example,example.com:80' }),
      /WEFT_EGRESS_DENY.*example\.com:80/,
      'a typo stops the start, naming the variable and the entry',
    );
  });

  it('matches host names exactly or by suffix, never by substring', () => {
    const rules = parseEgressList('api.example.com,*.internal.test');
    assert.ok(matchHost(rules, 'API.example.com.'));
    assert.ok(matchHost(rules, 'db.internal.test'));
    assert.ok(matchHost(rules, 'a.b.internal.test'));
    assert.equal(matchHost(rules, 'internal.test'), undefined, '*.suffix does not cover the suffix itself');
    assert.equal(matchHost(rules, 'evilinternal.test'), undefined);
    assert.equal(matchHost(rules, 'api.example.com.evil.test'), undefined);
  });

  it('matches IPv4 ranges through IPv6 forms that embed an IPv4 address', () => {
    const rules = parseEgressList('10.0.0.0/8');
    for (const address of ['10.9.8.7', '::ffff:10.9.8.7', '::ffff:a09:807', '64:ff9b::a09:807', '2002:a09:807::']) {
      assert.ok(matchAddress(rules, parseAddress(address) as never), address);
    }
    assert.equal(matchAddress(rules, parseAddress('11.0.0.1') as never), undefined);
  });
});

describe('egress decisions', () => {
  const deny = EgressPolicy.fromLists([], [], 'deny');
  const allow = new EgressPolicy();

  it('classifies loopback in every spelling as private', () => {
    for (const url of [
      'http://127.0.0.1/',
      'http://2130706433/',
      'http://0x7f.1/',
      'http://0177.0.0.1/',
      'http://[::1]/',
      'http://[::ffff:127.0.0.1]/',
      'http://[64:ff9b::127.0.0.1]/',
      'http://0.0.0.0/',
    ]) {
      assert.match(refused(decide(deny, url)) ?? '', /private address .* WEFT_EGRESS_PRIVATE=deny/, url);
      assert.equal(decide(allow, url).allowed, true, `${url} under the default WEFT_EGRESS_PRIVATE=allow`);
    }
    for (const address of ['10.0.0.1', '172.16.0.1', '192.168.1.1', '100.64.0.1', 'fd12::1']) {
      assert.equal(classifyAddress(parseAddress(address) as never).kind, 'private', address);
    }
    for (const address of ['8.8.8.8', '2606:4700::1111']) {
      assert.equal(classifyAddress(parseAddress(address) as never).kind, 'public', address);
      assert.equal(deny.checkAddress(address, address).allowed, true, address);
    }
  });

  it('always refuses link-local and metadata addresses unless an IP or CIDR entry of ALLOW covers them', () => {
    const urls = [
      'http://169.254.169.254/',
      'http://2852039166/',
      'http://[::ffff:169.254.169.254]/',
      'http://[fe80::1]/',
      'http://[fd00:ec2::254]/',
      'http://100.100.100.200/',
    ];
    for (const url of urls) {
      assert.match(refused(decide(allow, url)) ?? '', /always refused unless an IP or CIDR entry/, url);
    }
    const byName = EgressPolicy.fromLists(['metadata.internal', '*'], [], 'allow');
    assert.equal(
      byName.checkAddress('metadata.internal', '169.254.169.254').allowed,
      false,
      'a host name entry does not vouch for the address it resolves to',
    );
    const byAddress = EgressPolicy.fromLists(['169.254.169.254', 'fe80::/10'], [], 'deny');
    assert.equal(decide(byAddress, 'http://169.254.169.254/').allowed, true);
    assert.equal(decide(byAddress, 'http://[fe80::1]/').allowed, true);
    assert.equal(decide(byAddress, 'http://169.254.0.1/').allowed, false);
  });

  it('lets ALLOW win over DENY and WEFT_EGRESS_PRIVATE, so DENY=* makes an allow-list', () => {
    const list = EgressPolicy.fromLists(['api.example.com', '10.1.0.0/16'], ['*'], 'deny');
    assert.equal(list.checkAddress('api.example.com', '93.184.216.34').allowed, true);
    assert.equal(list.checkAddress('10.1.2.3', '10.1.2.3').allowed, true);
    assert.match(refused(list.checkAddress('other.example', '93.184.216.34')) ?? '', /WEFT_EGRESS_DENY entry '\*'/);
    assert.equal(list.checkHostName('other.example').allowed, true, 'ALLOW has CIDR entries: decided on the address');
    const names = EgressPolicy.fromLists([], ['*.corp.example'], 'allow');
    assert.match(
      refused(names.checkHostName('db.corp.example')) ?? '',
      /matches WEFT_EGRESS_DENY entry '\*\.corp\.example'/,
    );
    assert.match(refused(names.checkAddress('db.corp.example', '10.0.0.5')) ?? '', /db\.corp\.example \(10\.0\.0\.5\)/);
    const range = EgressPolicy.fromLists([], ['192.0.2.0/24'], 'allow');
    assert.equal(range.checkAddress('x.example', '192.0.2.9').allowed, false);
    assert.equal(range.checkAddress('x.example', '::ffff:192.0.2.9').allowed, false, 'IPv4-mapped form is covered');
  });

  it('refuses schemes other than http(s) unless ALLOW names them', () => {
    for (const url of ['data:text/plain,hi', 'file:///etc/passwd', 'ftp://example.com/', 'gopher://example.com/']) {
      assert.match(refused(allow.checkScheme(new URL(url))) ?? '', /only http and https are allowed/, url);
    }
    assert.equal(allow.checkScheme(new URL('https://example.com/')).allowed, true);
    const data = EgressPolicy.fromLists(['data:'], [], 'deny');
    assert.equal(data.checkScheme(new URL('data:text/plain,hi')).allowed, true);
    assert.equal(data.checkScheme(new URL('file:///etc/passwd')).allowed, false);
  });
});
