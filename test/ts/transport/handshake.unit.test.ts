// The hello exchange against a worker whose hello chooses a protocol version this client does not
// speak (a raw ROUTER here): connecting fails with UNSUPPORTED_VERSION naming both versions and
// the end to upgrade.
import { afterEach, expect, test } from "vitest";
import { Router } from "zeromq";
import { connectWorker } from "../../../ts/transport/index.js";
import { type Body, type Header, PROTOCOL_VERSION, WireError, decodeMessage, encodeMessage } from "../../../ts/wire/index.js";
import { fakeHelloResult } from "../support/fake-hello.js";

const routers: Router[] = [];

afterEach(() => {
  for (const router of routers.splice(0)) router.close();
});

/** A worker that answers hello choosing `protocol`, and heartbeats; nothing else. */
async function fakeWorker(protocol: number): Promise<string> {
  const router = new Router({ linger: 0 });
  routers.push(router);
  await router.bind("tcp://127.0.0.1:*");
  const reply = (peer: Buffer, header: Header, body: Body): void =>
    void router.send([peer, ...encodeMessage({ header, body }).map((frame) => Buffer.from(frame))]).catch(() => {});
  void (async () => {
    try {
      for await (const [peer, ...frames] of router) {
        const { header } = decodeMessage(frames);
        if (header.kind === "heartbeat") reply(peer!, header, {});
        else if (header.type === "hello") {
          reply(peer!, { ...header, kind: "result" }, fakeHelloResult(protocol));
        }
      }
    } catch {
      // closed
    }
  })();
  return router.lastEndpoint as string;
}

for (const [protocol, older] of [[PROTOCOL_VERSION + 7, "this SDK"], [PROTOCOL_VERSION - 1, "the worker"]] as const) {
  test(`a hello choosing protocol ${protocol} is UNSUPPORTED_VERSION naming both versions; upgrade ${older}`, { timeout: 10_000 }, async () => {
    const error = await connectWorker(await fakeWorker(protocol), { timeoutMs: 5000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WireError);
    expect(error).toMatchObject({
      code: "UNSUPPORTED_VERSION",
      message: `the worker chose protocol version ${protocol} in its hello, but this client speaks ${PROTOCOL_VERSION}: ` +
        `upgrade ${older}, which is older (the SDK and the worker must speak the same protocol version)`,
      details: { version: protocol, supported: [PROTOCOL_VERSION] },
    });
  });
}
