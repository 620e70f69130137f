import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import { metricsRefusal } from '../src/api/stats-routes.js';
import { assertProblem, sendRequest, startTestServer, type TestServer } from './helpers/api-server.js';
import { testBackends } from './helpers/backends.js';

/**
 * `GET /metrics` without WEFT_METRICS_TOKEN answers this machine only: a loopback peer reads it,
 * any other peer gets 401 naming WEFT_METRICS_TOKEN; with the token set the token decides.
 */

/** A non-loopback IPv4 address of this machine, if it has one. */
function externalIpv4(): string | undefined {
  return Object.values(os.networkInterfaces())
    .flat()
    .find((entry) => entry !== undefined && entry.family === 'IPv4' && !entry.internal)?.address;
}

/** Serves `server`'s app on `address` too (same routes and hooks), so a peer there is not loopback. */
async function alsoListenOn(server: TestServer, address: string) {
  const extra = http.createServer((request, response) => server.app.routing(request, response));
  await new Promise<void>((resolve) => extra.listen(0, address, resolve));
  return {
    url: `http://${address}:${(extra.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => extra.close(resolve)),
  };
}

describe('metrics peer decision', () => {
  it('lets loopback peers in without a token and refuses the others', () => {
    const open = { metricsToken: undefined };
    for (const peer of ['127.0.0.1', '127.3.2.1', '::1', '::ffff:127.0.0.1']) {
      assert.equal(metricsRefusal(open, peer, undefined), undefined, peer);
    }
    for (const peer of ['192.0.2.2', '10.0.0.7', '::ffff:10.0.0.7', '2001:db8::1', 'fe80::1', '']) {
      assert.match(metricsRefusal(open, peer, undefined) ?? '', /set WEFT_METRICS_TOKEN/, peer);
    }
  });

  it('lets the token decide once one is set, from any peer', () => {
    const guarded = { metricsToken: 'metrics-scrape-token-0123456789' };
    for (const peer of ['127.0.0.1', '192.0.2.2']) {
      assert.equal(metricsRefusal(guarded, peer, guarded.metricsToken), undefined, peer);
      assert.match(metricsRefusal(guarded, peer, undefined) ?? '', /WEFT_METRICS_TOKEN/, peer);
      assert.match(metricsRefusal(guarded, peer, 'metrics-scrape-token-0123456788') ?? '', /WEFT_METRICS_TOKEN/);
    }
  });
});

const external = externalIpv4();

for (const backend of testBackends()) {
  describe(`metrics over the network (${backend})`, {
    skip: external ? false : 'no non-loopback IPv4 interface',
  }, () => {
    let server: TestServer;
    let guarded: TestServer;
    const token = 'metrics-scrape-token-0123456789';

    before(async () => {
      server = await startTestServer(backend);
      guarded = await startTestServer(backend, { metricsToken: token });
    });
    after(async () => {
      await server.close();
      await guarded.close();
    });

    it('answers a loopback scraper and refuses one on another interface with 401 problem+json', async () => {
      const local = await server.request('GET', '!/metrics', { key: null });
      assert.equal(local.status, 200, local.text);
      assert.match(local.text, /weft_/);
      const remote = await alsoListenOn(server, external ?? '');
      try {
        const refused = await sendRequest(remote.url, 'GET', '!/metrics');
        assertProblem(refused, 401, 'UNAUTHORIZED');
        assert.match(refused.body.detail, /set WEFT_METRICS_TOKEN/);
        // Only /metrics is limited: the same peer reaches /healthz.
        assert.equal((await sendRequest(remote.url, 'GET', '!/healthz')).status, 200);
      } finally {
        await remote.close();
      }
    });

    it('lets a scraper on another interface in with the token', async () => {
      const remote = await alsoListenOn(guarded, external ?? '');
      try {
        assertProblem(await sendRequest(remote.url, 'GET', '!/metrics'), 401, 'UNAUTHORIZED');
        const allowed = await sendRequest(remote.url, 'GET', '!/metrics', { key: token });
        assert.equal(allowed.status, 200, allowed.text);
        assert.match(allowed.text, /weft_/);
      } finally {
        await remote.close();
      }
    });
  });
}
