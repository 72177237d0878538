/**
 * The jobs in flight, by request id: what `Map<number, T>` would offer, over a null-prototype
 * object. Not a Map because this table gains and loses an entry on every request: measured with
 * 1 MiB `handle.get` replies on Node 20, a long-lived Map churned that way made V8 run about twice
 * as many full garbage collections (each one also sweeping the received frames' external memory),
 * doubling the client's CPU time per reply; an object keyed by id did not.
 */
export class JobTable<T> {
  private readonly byId: Record<number, T> = Object.create(null) as Record<number, T>;
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(id: number): boolean {
    return id in this.byId;
  }

  get(id: number): T | undefined {
    return this.byId[id];
  }

  /** Adds the job of `id`, which must not be in the table. */
  add(id: number, job: T): void {
    if (this.has(id)) throw new Error(`request id ${id} is already in flight`);
    this.byId[id] = job;
    this.count += 1;
  }

  /** Removes and returns the job of `id`, if there is one. */
  remove(id: number): T | undefined {
    if (!this.has(id)) return undefined;
    const job = this.byId[id];
    delete this.byId[id];
    this.count -= 1;
    return job;
  }

  /** The jobs, as a new array (safe to settle while iterating). */
  values(): T[] {
    return Object.values(this.byId);
  }
}
