/**
 * One worker under fuzz: a real `python -m mcl_worker` (restarted when it dies, each death a
 * crash) and one raw DEALER that keeps a window of messages in flight, each followed by a marker
 * ping, settling every reply against the ledger (see ledger.ts). With a key, most messages are
 * signed after mutation (so that they reach the decoder); some are tampered with after signing,
 * left unsigned, signed with another key, or replays of messages already accepted: those must
 * come back AUTH_FAILED (or MESSAGE_TOO_LARGE, which the size check, first, answers).
 */
import { performance } from "node:perf_hooks";
import { Dealer } from "zeromq";
import { Rng } from "../../ts/control/rng.js";
import { choosePython } from "../../ts/transport/index.js";
import { WorkerProcess } from "../../ts/transport/process.js";
import { type Body, decodeMessage } from "../../ts/wire/codec.js";
import { WireError } from "../../ts/wire/errors.js";
import type { Header } from "../../ts/wire/header.js";
import { ReplayGuard } from "../../ts/wire/replay.js";
import { signFrames } from "../../ts/wire/signing.js";
import { type Fuzzed, Ledger } from "./ledger.js";
import { type DecodeContext, predict } from "./predict.js";
import { MessageSource } from "./sources.js";
import { Draw, INLINE_JOBS } from "./values.js";

export interface TargetOptions {
  readonly name: string;
  /** The worker's key and the file holding it; none: an unsigned worker. */
  readonly auth?: { readonly key: Uint8Array; readonly file: string };
  readonly messages: number;
  readonly seed: number;
  /** Messages owed a reply at once. */
  readonly window: number;
  /** A reply later than this after its message is a hang. */
  readonly deadlineMs: number;
  /** The worker's --max-message-bytes. */
  readonly maxMessageBytes: number;
  readonly jobs: ReadonlySet<string>;
}

/** A message the report shows as evidence, frames as hex. */
export interface Sample {
  readonly what: string;
  readonly frames?: readonly string[];
}

export interface TargetReport {
  readonly name: string;
  readonly signed: boolean;
  sent: number;
  readonly byOrigin: Record<string, number>;
  /** Final replies by code, per way of signing ("plain", "signed", "replay", ...). */
  readonly replies: Record<string, Record<string, number>>;
  progress: number;
  /** Valid cancels (as the TypeScript decoder reads them): owed no reply. */
  cancels: number;
  /** The marker pings after each message, proof that the worker still serves. */
  markers: { sent: number; answered: number };
  readonly skipped: Record<string, number>;
  crashes: number;
  /** Messages in flight when the worker died. */
  lostInCrashes: number;
  /** Sockets replaced because the client library stalled on them while the worker served, and the messages they had in flight. */
  reconnects: number;
  lostInReconnects: number;
  hangs: number;
  lateReplies: number;
  unanswered: number;
  /** Replies whose id is not the one the TypeScript decoder reads in the message. */
  idDisagreements: number;
  /** Second final replies to one message. */
  extraReplies: number;
  /** Replies to no message sent. */
  strayReplies: number;
  undecodableReplies: number;
  decoderThrew: number;
  /** "predicted->answered" code pairs where the two codecs disagree. */
  readonly codeDisagreements: Record<string, number>;
  /** Tracebacks and ERROR lines in the worker's log. */
  logErrors: number;
  readonly samples: Sample[];
  durationS: number;
}

const MAX_DISAGREEMENT_SAMPLES = 30;
/** Marker pings take ids from here up (a fuzzed message's id is below, unless a mutation moved it). */
const MARKER_IDS = 2 ** 31;
const OTHER_MARKER_IDS = 2 ** 30;
const REPLAY_RING = 64;
/** A send pending this long, or no reply this long with messages in flight, is looked into. */
const STALL_MS = 3000;
/** The id of the pings that check a silent worker (an id no fuzzed message or marker has). */
const PROBE_ID = 2 ** 32 - 2;
const LOG_ERROR = /Traceback|\bERROR\b|\bCRITICAL\b/;

export class FuzzTarget {
  private readonly ledger = new Ledger();
  private readonly draw: Draw;
  private readonly source: MessageSource;
  private readonly wrongKey: Uint8Array;
  private readonly report: TargetReport;
  private ctx: DecodeContext;
  private worker: WorkerProcess | undefined;
  private dealer: Dealer | undefined;
  private endpoint: string | undefined;
  private lastReplyAt = 0;
  private checking = false;
  private disagreementSamples = 0;
  private restarting: Promise<void> | undefined;
  private closing = false;
  private wake: (() => void) | undefined;
  private nextId = 1;
  /** Signed messages the worker accepted, for replays. */
  private accepted: Uint8Array[][] = [];
  private readonly lastSent: Uint8Array[][] = [];
  private readonly sampleCounts = new Map<string, number>();

  constructor(private readonly options: TargetOptions) {
    const rng = new Rng(options.seed);
    this.draw = new Draw(rng);
    this.source = new MessageSource(rng);
    this.wrongKey = this.draw.bytes(32);
    this.ctx = this.decodeContext();
    this.report = {
      name: options.name,
      signed: options.auth !== undefined,
      sent: 0,
      byOrigin: {},
      replies: {},
      progress: 0,
      cancels: 0,
      markers: { sent: 0, answered: 0 },
      skipped: {},
      crashes: 0,
      lostInCrashes: 0,
      reconnects: 0,
      lostInReconnects: 0,
      hangs: 0,
      lateReplies: 0,
      unanswered: 0,
      idDisagreements: 0,
      extraReplies: 0,
      strayReplies: 0,
      undecodableReplies: 0,
      decoderThrew: 0,
      codeDisagreements: {},
      logErrors: 0,
      samples: [],
      durationS: 0,
    };
  }

  /** Sends the messages, waits for their replies (or their deadline) and stops the worker. */
  async run(onSent?: (n: number) => void): Promise<TargetReport> {
    const start = performance.now();
    await this.startWorker();
    this.lastReplyAt = performance.now();
    const timer = setInterval(() => this.expire(), Math.min(250, this.options.deadlineMs / 4));
    try {
      while (this.report.sent < this.options.messages) {
        while (this.ledger.inFlight >= this.options.window || this.restarting !== undefined) {
          await (this.restarting ?? new Promise<void>((resolve) => (this.wake = resolve)));
        }
        await this.sendOne();
        if (this.report.sent % 10_000 === 0) onSent?.(this.report.sent);
      }
      while (this.ledger.inFlight > 0) await new Promise<void>((resolve) => (this.wake = resolve));
    } finally {
      clearInterval(timer);
      await this.stopWorker();
    }
    this.report.unanswered = this.ledger.hungCount + this.report.lostInCrashes;
    this.report.durationS = (performance.now() - start) / 1000;
    return this.report;
  }

  private async sendOne(): Promise<void> {
    const id = this.nextId++;
    const draft = this.source.next(id);
    const { frames, label } = this.authenticate(draft.frames);
    const prediction = predict(frames, this.ctx);
    if (prediction.kind === "skip") {
      tally(this.report.skipped, prediction.why);
      return;
    }
    let predicted: string;
    let replyId = 0;
    if (prediction.kind === "decoder-threw") {
      // The TypeScript decoder failed without a WireError: a bug on this side; the worker still owes an answer.
      this.report.decoderThrew++;
      this.sample("ts-decoder-threw", String(prediction.error), frames);
      predicted = "?";
    } else {
      predicted = prediction.kind === "none" ? "none" : prediction.code;
      replyId = prediction.id;
      // Past the size check and the signature: the worker's replay guard has its nonce now.
      if (label === "signed" && predicted !== "AUTH_FAILED" && predicted !== "MESSAGE_TOO_LARGE") remember(this.accepted, frames, REPLAY_RING);
    }
    if (predicted === "none") this.report.cancels++;
    // A bit flipped in a 32-bit id can give exactly its marker's; a job still running under that
    // id would then refuse the marker ("id in use"): such a message gets another marker id.
    const marker = MARKER_IDS + id === replyId ? MARKER_IDS + OTHER_MARKER_IDS + id : MARKER_IDS + id;
    const message: Fuzzed = { id: replyId, marker, sentAt: performance.now(), predicted, label, frames, replies: 0 };
    this.report.sent++;
    this.report.markers.sent++;
    tally(this.report.byOrigin, draft.origin);
    remember(this.lastSent, frames, 4);
    this.ledger.sent(message);
    const dealer = this.dealer as Dealer;
    try {
      await this.sendWithin(dealer, frames);
      await this.sendWithin(dealer, this.sign(this.source.ping(marker)));
    } catch (err) {
      if (this.restarting === undefined && !this.closing) throw err;
    }
  }

  /**
   * Sends on `dealer`; a send still pending after STALL_MS (zeromq.js can miss the socket turning
   * writable while a receive is pending on it) closes the socket and goes on with a new one.
   */
  private async sendWithin(dealer: Dealer, frames: Uint8Array[]): Promise<void> {
    if (dealer !== this.dealer) return; // replaced while this message was being sent
    let timer: NodeJS.Timeout | undefined;
    let failure: unknown;
    const stalled = new Promise<"stalled">((resolve) => (timer = setTimeout(() => resolve("stalled"), STALL_MS)));
    const sent = dealer.send(frames).then(
      () => "sent" as const,
      (err: unknown) => ((failure = err), "failed" as const),
    );
    const outcome = await Promise.race([sent, stalled]).finally(() => clearTimeout(timer));
    if (outcome === "stalled") this.reconnect(dealer, "a send");
    if (outcome === "failed" && dealer === this.dealer) throw failure;
  }

  /** Replaces a stalled socket; what it had in flight cannot be answered any more and leaves the books. */
  private reconnect(dealer: Dealer, what: string): void {
    if (dealer !== this.dealer || this.endpoint === undefined) return;
    const lost = this.ledger.drop();
    this.report.reconnects++;
    this.report.lostInReconnects += lost.length;
    this.sample("reconnect", `${what} stalled for ${STALL_MS} ms on a worker that serves; ${lost.length} messages in flight dropped from the books`, undefined);
    dealer.close();
    this.connect(this.endpoint);
    this.notify();
  }

  private connect(endpoint: string): void {
    // A send to a worker that died waits for a peer that never comes back: give up after a while.
    const dealer = new Dealer({ linger: 0, sendTimeout: 5000 });
    dealer.connect(endpoint);
    this.dealer = dealer;
    void this.receive(dealer);
  }

  /** How this message travels: as it is to an unsigned worker (sometimes signed anyway), else mostly signed. */
  private authenticate(frames: Uint8Array[]): { frames: Uint8Array[]; label: string } {
    const auth = this.options.auth;
    const r = this.draw.rng.below(100);
    if (auth === undefined) {
      return r < 3 ? { frames: signFrames(this.wrongKey, frames), label: "signed, no key" } : { frames, label: "plain" };
    }
    if (r < 4) return { frames, label: "unsigned" };
    if (r < 7) return { frames: signFrames(this.wrongKey, frames), label: "wrong key" };
    if (r < 11) return { frames: this.source.mutate(signFrames(auth.key, frames)), label: "tampered" };
    if (r < 16 && this.accepted.length > 0) return { frames: this.draw.pick(this.accepted), label: "replay" };
    return { frames: signFrames(auth.key, frames), label: "signed" };
  }

  private sign(frames: Uint8Array[]): Uint8Array[] {
    return this.options.auth === undefined ? frames : signFrames(this.options.auth.key, frames);
  }

  private onReply(frames: Uint8Array[]): void {
    let id: number | undefined;
    let code: string;
    let inOrder = true;
    let text = "";
    try {
      const msg = decodeMessage(frames, this.options.auth === undefined ? {} : { key: this.options.auth.key });
      if (msg.header.kind === "progress") {
        this.report.progress++;
        return;
      }
      id = msg.header.id;
      code = msg.header.kind === "error" ? String(msg.body.code) : msg.header.kind;
      if (msg.header.kind === "result" && msg.header.type === "ping" && this.ledger.marker(id) !== undefined) {
        this.report.markers.answered++;
        this.notify();
        return;
      }
      inOrder = answeredInOrder(msg.header, msg.body);
      if (msg.header.kind === "error") text = `: ${String(msg.body.message)}`;
      if (code === "JOB_FAILED") this.sample("job-failed", String(msg.body.message), undefined);
    } catch (err) {
      // The worker sent what the protocol forbids; its header, when readable, still says what it answers.
      this.report.undecodableReplies++;
      this.sample("undecodable-reply", String(err), frames);
      code = "undecodable";
      const header = err instanceof WireError ? err.header : undefined;
      if (header !== undefined) {
        id = header.id;
        inOrder = answeredInOrder(header, {});
      }
    }
    const settled = this.ledger.reply(id, inOrder);
    const message = settled.message;
    if (message === undefined) {
      this.report.strayReplies++;
      this.sample("stray-reply", `a ${code} reply to id ${id} that answers no message sent`, undefined);
      return;
    }
    if (settled.how === "extra") {
      this.report.extraReplies++;
      this.sample("extra-reply", `a second final reply (${code}) to the message of id ${message.id}`, message.frames);
      return;
    }
    if (settled.how === "late") this.report.lateReplies++;
    tally((this.report.replies[message.label] ??= {}), code);
    if (id !== undefined && id !== message.id) {
      this.report.idDisagreements++;
      this.sample("id-disagreement", `the TypeScript decoder reads id ${message.id}, the worker answered ${code} to id ${id}`, message.frames);
    }
    if (message.predicted !== code) {
      tally(this.report.codeDisagreements, `${message.predicted}->${code}`);
      this.sample(`code:${message.predicted}->${code}`, `reply to id ${id}${text}`, message.frames);
    }
    this.notify();
  }

  private expire(): void {
    if (this.ledger.inFlight > 0 && performance.now() - this.lastReplyAt >= STALL_MS) void this.checkStall();
    for (const message of this.ledger.expire(performance.now() - this.options.deadlineMs)) {
      this.report.hangs++;
      this.sample("hang", `no reply to the message of id ${message.id} within ${this.options.deadlineMs} ms (expected ${message.predicted})`, message.frames);
    }
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private decodeContext(): DecodeContext {
    const { auth, maxMessageBytes, jobs } = this.options;
    return auth === undefined ? { maxBytes: maxMessageBytes, jobs } : { key: auth.key, replay: new ReplayGuard(), maxBytes: maxMessageBytes, jobs };
  }

  private async startWorker(): Promise<void> {
    const { auth, maxMessageBytes } = this.options;
    const args = ["--bind", "tcp://127.0.0.1:0", "--exit-with-parent", "--max-message-bytes", String(maxMessageBytes)];
    if (auth !== undefined) args.push("--auth", auth.file);
    const { worker, endpoint } = await WorkerProcess.spawn({
      python: choosePython().path,
      args,
      startupTimeoutMs: 120_000,
      onOutput: (text) => this.workerLog(text),
    });
    this.worker = worker;
    this.endpoint = endpoint;
    this.connect(endpoint);
    void worker.exited.then((info) => {
      if (this.closing || this.worker !== worker) return;
      this.restarting = this.restart(`exited with ${info.signal ?? `code ${info.code}`}`, worker.stderrTail);
    });
  }

  private async receive(dealer: Dealer): Promise<void> {
    try {
      for await (const frames of dealer) {
        if (dealer !== this.dealer) break; // replaced: what it still holds answers messages no longer in the books
        this.lastReplyAt = performance.now();
        this.onReply(frames);
      }
    } catch (err) {
      if (dealer === this.dealer && !this.closing && this.restarting === undefined) {
        this.sample("receive-failed", String(err), undefined);
        this.reconnect(dealer, "receiving");
      }
    }
  }

  /**
   * Called when no reply came for STALL_MS with messages in flight: asks the worker, on a fresh
   * socket, whether it serves. If it does, the stalled socket is replaced (see sendWithin);
   * if not, the worker hangs and its messages' deadlines will say so.
   */
  private async checkStall(): Promise<void> {
    const dealer = this.dealer;
    if (this.checking || dealer === undefined || this.endpoint === undefined) return;
    this.checking = true;
    const probe = new Dealer({ linger: 0, sendTimeout: STALL_MS, receiveTimeout: STALL_MS });
    try {
      probe.connect(this.endpoint);
      await probe.send(this.sign(this.source.ping(PROBE_ID)));
      await probe.receive();
      if (performance.now() - this.lastReplyAt >= STALL_MS) this.reconnect(dealer, "receiving");
    } catch {
      // no answer: the worker hangs, or died (its exit restarts it)
    } finally {
      probe.close();
      this.checking = false;
    }
  }

  private async restart(why: string, stderrTail: string): Promise<void> {
    this.report.crashes++;
    const lost = this.ledger.drop();
    this.report.lostInCrashes += lost.length;
    this.sample("crash", `worker ${why}; its stderr ends with:\n${stderrTail.slice(-2000)}`, this.lastSent.at(-1));
    for (const message of lost.slice(-3)) this.sample("in-flight-at-crash", `id ${message.id}`, message.frames);
    this.dealer?.close();
    this.accepted = [];
    this.ctx = this.decodeContext(); // the new worker's replay guard starts empty
    await this.startWorker();
    this.restarting = undefined;
    this.notify();
  }

  private async stopWorker(): Promise<void> {
    this.closing = true;
    await this.restarting?.catch(() => undefined);
    this.dealer?.close();
    await this.worker?.kill(2000);
  }

  private workerLog(text: string): void {
    for (const line of text.split("\n")) {
      if (!LOG_ERROR.test(line)) continue;
      this.report.logErrors++;
      this.sample("worker-log", line, undefined);
    }
  }

  private sample(what: string, detail: string, frames: readonly Uint8Array[] | undefined): void {
    const seen = this.sampleCounts.get(what) ?? 0;
    this.sampleCounts.set(what, seen + 1);
    // Disagreements between the codecs are many and alike; they must not crowd out the rest.
    const disagreement = what.startsWith("code:") || what === "id-disagreement";
    if (seen >= 3 || (disagreement && (this.disagreementSamples += 1) > MAX_DISAGREEMENT_SAMPLES)) return;
    const hex = frames?.map((f) => (f.length > 512 ? `${Buffer.from(f.subarray(0, 512)).toString("hex")}…(${f.length} bytes)` : Buffer.from(f).toString("hex")));
    this.report.samples.push({ what: `${what}: ${detail}`, ...(hex && { frames: hex }) });
  }
}

/** Codes of a message refused before any job runs: answered by the I/O thread. */
const REFUSALS: ReadonlySet<unknown> = new Set(["MALFORMED", "TENSOR_MISMATCH", "AUTH_FAILED", "MESSAGE_TOO_LARGE", "UNKNOWN_JOB", "INVALID_BODY"]);

/** Whether the worker sent this reply from its I/O thread, in the order the messages came. */
function answeredInOrder(header: Header, body: Body): boolean {
  if (header.kind === "heartbeat" || INLINE_JOBS.has(header.type)) return true;
  if (header.kind === "result") return false;
  const details = body.details as { version?: unknown } | undefined;
  // An unsupported header version is refused on arrival; a hello offering no common version, by the job.
  if (body.code === "UNSUPPORTED_VERSION") return details?.version !== undefined;
  return REFUSALS.has(body.code) || String(body.message).startsWith("the worker failed handling this message");
}

function tally(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

function remember<T>(ring: T[], item: T, size: number): void {
  ring.push(item);
  if (ring.length > size) ring.shift();
}
