import { Dealer } from "zeromq";

/**
 * One DEALER connection to the worker: sends are queued (zeromq.js allows one send in progress
 * per socket) and every received message goes to `onMessage`, from a single receive loop.
 */
export class Channel {
  private readonly dealer = new Dealer({ linger: 0 });
  private sendTail: Promise<void> = Promise.resolve();
  /** Sends started and not yet settled; with none, a send starts at once instead of after a microtask. */
  private sending = 0;

  constructor(
    endpoint: string,
    onMessage: (frames: Buffer[]) => void,
    onFailure: (error: Error) => void,
  ) {
    this.dealer.connect(endpoint);
    void this.receiveLoop(onMessage, onFailure);
  }

  /** Queues `frames`; `onError` hears if they could not be sent (the socket closed, say). */
  send(frames: Uint8Array[], onError: (error: Error) => void): void {
    const sent = this.sending === 0 ? this.dealer.send(frames) : this.sendTail.then(() => this.dealer.send(frames));
    this.sending += 1;
    this.sendTail = sent.then(this.sendSettled, (err: unknown) => {
      this.sendSettled();
      const error = err instanceof Error ? err : new Error(String(err));
      queueMicrotask(() => onError(error)); // outside the chain: whatever onError does, later sends still go
    });
  }

  private readonly sendSettled = (): void => {
    this.sending -= 1;
  };

  close(): void {
    this.dealer.close();
  }

  private async receiveLoop(onMessage: (frames: Buffer[]) => void, onFailure: (error: Error) => void): Promise<void> {
    try {
      for await (const frames of this.dealer) onMessage(frames);
    } catch (err) {
      // Closing the socket ends a pending receive with an error; anything else is a real failure.
      if (!this.dealer.closed) onFailure(err instanceof Error ? err : new Error(String(err)));
    }
  }
}
